"""ECR's archive storage class, which moto does not have.

An image moved to the archive (``UpdateImageStorageClass`` with ``targetStorageClass:
ARCHIVE``) cannot be pulled until it is restored, and ``DescribeImages`` leaves it out unless
its filter asks: "If not specified, only images with ACTIVE status are returned"
(https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_DescribeImagesFilter.html).
Asked for by tag without that filter, an archived image is ``ImageNotFoundException``; with
``imageStatus: ANY`` or ``ARCHIVED`` it is answered with ``imageStatus: ARCHIVED``.
"""

from __future__ import annotations

import threading

from tests.stands.realistic import Answer, Call


class EcrWorld:
    def __init__(self) -> None:
        self.archived: set[tuple[str, str]] = set()  # (repository, tag)
        self.lock = threading.Lock()

    def archive(self, repository: str, tag: str) -> None:
        with self.lock:
            self.archived.add((repository, tag))

    def _is_archived(self, repository: str, tags: list[str]) -> bool:
        return any((repository, tag) in self.archived for tag in tags)

    def answer(self, call: Call) -> Answer | None:
        if call.operation != "DescribeImages":
            return None
        request = call.json()
        status = (request.get("filter") or {}).get("imageStatus", "ACTIVE")
        asked = [i.get("imageTag") for i in request.get("imageIds") or [] if i.get("imageTag")]
        with self.lock:
            hidden = self._is_archived(request.get("repositoryName", ""), asked)
        if hidden and status == "ACTIVE":
            image = asked[0]
            return Answer.error(
                "ImageNotFoundException",
                f"The image with imageId {{imageTag:'{image}'}} does not exist within the "
                f"repository with name '{request.get('repositoryName')}'",
            )
        return None

    def rewrite(self, call: Call, answer: Answer) -> Answer:
        if call.operation != "DescribeImages" or answer.status != 200:
            return answer
        request = call.json()
        repository = request.get("repositoryName", "")
        status = (request.get("filter") or {}).get("imageStatus", "ACTIVE")
        document = answer.document()
        kept = []
        with self.lock:
            for detail in document.get("imageDetails", []):
                archived = self._is_archived(repository, detail.get("imageTags") or [])
                detail["imageStatus"] = "ARCHIVED" if archived else "ACTIVE"
                if status in ("ANY", detail["imageStatus"]):
                    kept.append(detail)
        document["imageDetails"] = kept
        return answer.with_document(document)
