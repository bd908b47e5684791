"""CloudWatch composite alarms, which moto cannot hold (``PutCompositeAlarm`` answers HTTP 500
in moto 5.2.5).

AWS's rule, from botocore's model of ``DescribeAlarms``: "If you omit this parameter
[``AlarmTypes``], only metric alarms are returned, even if composite alarms exist that
match the other parameters"
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_DescribeAlarms.html).
So a composite alarm is answered in ``CompositeAlarms`` only when the request's
``AlarmTypes`` names ``CompositeAlarm``.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from tests.stands.realistic import Answer, Call

ACCOUNT = "123456789012"
REGION = "ap-northeast-2"


class CloudWatchWorld:
    """Composite alarms by name, with the state a test gives them."""

    def __init__(self) -> None:
        self.composites: dict[str, str] = {}
        self.lock = threading.Lock()

    def composite(self, name: str, state: str = "OK") -> None:
        with self.lock:
            self.composites[name] = state

    def answer(self, call: Call) -> Answer | None:
        return None

    def rewrite(self, call: Call, answer: Answer) -> Answer:
        if call.operation != "DescribeAlarms" or answer.status != 200:
            return answer
        request = call.json()
        if "CompositeAlarm" not in (request.get("AlarmTypes") or []):
            return answer
        names = request.get("AlarmNames") or []
        document = answer.document()
        with self.lock:
            document["CompositeAlarms"] = [
                {
                    "AlarmName": name,
                    "AlarmArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}",
                    "AlarmRule": 'ALARM("leh-backend-5xx") OR ALARM("leh-backend-latency")',
                    "StateValue": state,
                    "StateReason": f"set to {state} by the test",
                    "StateUpdatedTimestamp": time.time(),
                }
                for name, state in self.composites.items()
                if not names or name in names
            ]
        return answer.with_document(_without_metric_alarms_named(document, set(self.composites)))


def _without_metric_alarms_named(document: dict[str, Any], composites: set[str]) -> dict[str, Any]:
    document["MetricAlarms"] = [
        a for a in document.get("MetricAlarms", []) if a.get("AlarmName") not in composites
    ]
    return document
