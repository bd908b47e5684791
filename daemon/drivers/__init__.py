"""One driver per target kind; see ``base.Driver`` for the promises each keeps."""
