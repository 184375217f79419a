"""SigV4 as boto3 meets it on a `jobcert serve --verify-sigv4` (spec §2.1).

Usage: boto3_sigv4.py DATA_PLANE_URL CONTROL_PLANE_URL ACCESS_KEY SECRET_KEY

The server checks signatures against ACCESS_KEY/SECRET_KEY. Checks that the right credentials
work on both planes, and that a wrong secret, an unknown key, a missing signature and a request
signed 10 minutes in the past (or ahead) get the error AWS answers, with the HTTP `Date` header
the SDKs that correct clock skew read. Prints one line per check and exits non-zero on the first
failure.
"""

import contextlib
import datetime
import importlib
import importlib.util
import os
import sys
from unittest import mock

import boto3
import botocore.auth
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

REGION = "us-east-1"
THING = "sigv4:thing-1"

checks = 0


def passed(what):
    """Records and prints one passed check."""
    global checks
    checks += 1
    print(f"ok {checks:2} - {what}", flush=True)


def clients(data_url, control_url, key, secret, **config):
    """boto3's `iot` and `iot-jobs-data` clients with these credentials, one attempt each."""
    config = Config(retries={"max_attempts": 1}, **config)
    credentials = dict(region_name=REGION, aws_access_key_id=key, aws_secret_access_key=secret)
    iot = boto3.client("iot", endpoint_url=control_url, config=config, **credentials)
    jobs = boto3.client("iot-jobs-data", endpoint_url=data_url, config=config, **credentials)
    return iot, jobs


def refused(call, code, status, starts, what):
    """Runs `call`, which must fail with ClientError `code`, HTTP `status`, a message starting
    with `starts`, a request id and a `Date` header."""
    try:
        call()
    except ClientError as e:
        error = e.response["Error"]
        meta = e.response["ResponseMetadata"]
        assert error["Code"] == code, f"{what}: code {error['Code']}, want {code}: {e.response}"
        assert meta["HTTPStatusCode"] == status, f"{what}: HTTP {meta['HTTPStatusCode']}"
        assert error["Message"].startswith(starts), f"{what}: message {error['Message']!r}"
        assert meta.get("RequestId"), f"{what}: no request id: {meta}"
        assert meta["HTTPHeaders"].get("date"), f"{what}: no Date header: {meta}"
        passed(f"{what}: {code} {status}")
        return error["Message"]
    raise AssertionError(f"{what}: the call succeeded, want {code}")


@contextlib.contextmanager
def shifted(minutes):
    """Moves the signing clock `minutes` away from now (negative: the past), in botocore's own
    signer and in the CRT one botocore uses instead when awscrt is installed."""
    modules = [botocore.auth]
    if importlib.util.find_spec("awscrt") is not None:
        modules.append(importlib.import_module("botocore.crt.auth"))
    with contextlib.ExitStack() as stack:
        for module in modules:
            real = module.get_current_datetime
            stack.enter_context(
                mock.patch.object(
                    module,
                    "get_current_datetime",
                    lambda *a, real=real, **k: real(*a, **k)
                    + datetime.timedelta(minutes=minutes),
                )
            )
        yield


def main():
    """Runs every check; argv: data-plane URL, control-plane URL, access key, secret."""
    if len(sys.argv) != 5:
        sys.exit(f"usage: {sys.argv[0]} DATA_PLANE_URL CONTROL_PLANE_URL ACCESS_KEY SECRET_KEY")
    if not __debug__:
        sys.exit("the checks are assert statements: run without -O")
    data_url, control_url, key, secret = sys.argv[1:]
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull

    iot, jobs = clients(data_url, control_url, key, secret)
    iot.create_thing(thingName=THING)
    passed("right credentials: CreateThing on the control plane (signing name iot)")
    out = jobs.get_pending_job_executions(thingName=THING)
    assert out["inProgressJobs"] == [] and out["queuedJobs"] == [], out
    passed("right credentials: GetPendingJobExecutions on the data plane (iot-jobs-data)")
    out = jobs.start_next_pending_job_execution(thingName=THING)
    assert "execution" not in out, out
    passed("right credentials: StartNext (a body, a `:` encoded twice in the signed path)")

    iot_bad, jobs_bad = clients(data_url, control_url, key, secret + "-wrong")
    for plane, call in [
        ("data", lambda: jobs_bad.get_pending_job_executions(thingName=THING)),
        ("control", lambda: iot_bad.describe_job(jobId="absent")),
    ]:
        refused(
            call,
            "InvalidSignatureException",
            403,
            "The request signature we calculated does not match the signature you provided.",
            f"wrong secret on the {plane} plane",
        )

    _, jobs_unknown = clients(data_url, control_url, "AKIDUNKNOWN", secret)
    refused(
        lambda: jobs_unknown.get_pending_job_executions(thingName=THING),
        "UnrecognizedClientException",
        403,
        "The security token included in the request is invalid.",
        "unknown access key id",
    )

    _, jobs_unsigned = clients(
        data_url, control_url, key, secret, signature_version=UNSIGNED
    )
    refused(
        lambda: jobs_unsigned.get_pending_job_executions(thingName=THING),
        "MissingAuthenticationTokenException",
        403,
        "Missing Authentication Token",
        "no signature",
    )

    with shifted(-10):
        message = refused(
            lambda: jobs.get_pending_job_executions(thingName=THING),
            "InvalidSignatureException",
            403,
            "Signature expired: ",
            "signed 10 minutes in the past",
        )
    assert message.endswith(" - 5 min.)"), message
    with shifted(10):
        message = refused(
            lambda: jobs.get_pending_job_executions(thingName=THING),
            "InvalidSignatureException",
            403,
            "Signature not yet current: ",
            "signed 10 minutes ahead",
        )
    assert message.endswith(" + 5 min.)"), message
    with shifted(-4):
        jobs.get_pending_job_executions(thingName=THING)
    passed("signed 4 minutes in the past: within the 5-minute window")

    other = boto3.client(
        "iot-jobs-data",
        endpoint_url=data_url,
        region_name="eu-west-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}),
    )
    refused(
        lambda: other.get_pending_job_executions(thingName=THING),
        "InvalidSignatureException",
        403,
        "Credential should be scoped to a valid region, not 'eu-west-1'.",
        "signed for another region",
    )
    print(f"boto3 sigv4: {checks} checks passed")


if __name__ == "__main__":
    main()
