"""One driver per target kind, each holding all the AWS or database calls of its kind behind
the ``Driver`` protocol of ``base`` (observe never changes anything; apply is safe to repeat
and hands back what its wait must watch; wait raises typed errors), with the shared polling
loop and the boundary where botocore's exceptions become ``daemon.errors.AwsCallFailed``.

``frontend`` (with ``frontend_sources``: where a build's files come from, ``cloudfront``:
the invalidation, ``deploy_history``: which way a change goes), ``ecs`` (with
``codedeploy`` for blue/green services), ``aws_lambda``, ``database`` (Alembic).

Above the adapters (AWS clients) and the spec; used only by the engine.
"""
