"""Wire-compatibility check of a running `jobcert serve` against boto3 and the AWS CLI.

Usage: boto3_interop.py DATA_PLANE_URL CONTROL_PLANE_URL [--tls PKI_DIR [--mtls MTLS_URL]]

Seeds things and jobs through boto3's `iot` client (control plane), then drives every device
operation through boto3's `iot-jobs-data` client and once through the AWS CLI (a data-plane and
a control-plane call). A job with a rollout rate and abort criteria is then described, one of
its executions canceled with CancelJobExecution and its things deleted; a CONTINUOUS job
targets a thing group whose members come and go; a scheduled job waits for its startTime. Prints one line per check
and exits non-zero on the first failure.

With `--tls PKI_DIR` (a folder made by `jobcert pki`) both planes are `https://`: boto3 is given
`verify=PKI_DIR/ca.pem` and the CLI `--ca-bundle PKI_DIR/ca.pem`, and a client trusting only
its default bundle must fail the handshake. With `--mtls MTLS_URL` as well (`jobcert serve
--mtls`), boto3 with botocore's `client_cert` option presents PKI_DIR/interop-device.pem (a
device finishes its job) and then PKI_DIR/interop-expired.pem (`jobcert pki issue --expired`),
which must be answered CertificateValidationException.
"""

import argparse
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, SSLError

REGION = "us-east-1"
ACCOUNT = "123456789012"
ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "secret"
THING = "interop:thing-1"
CANCEL_THING = "interop:thing-2"
JOB_TIMED = "interop-job-1"
JOB_PLAIN = "interop-job-2"
JOB_CANCEL = "interop-job-cancel"
TIMESTAMPS = ("queuedAt", "startedAt", "lastUpdatedAt")
# The things of the certificates the mTLS part presents (file names in the PKI folder).
MTLS_THING = "interop-device"
EXPIRED_THING = "interop-expired"
JOB_MTLS = "interop-job-mtls"
# A paced job: at one a minute only its first thing is rolled out during the run.
PACED_THINGS = ("interop-paced-1", "interop-paced-2")
JOB_PACED = "interop-job-paced"
GROUP = "interop-group"
GROUP_THINGS = ("interop-member-1", "interop-member-2")
JOB_GROUP = "interop-job-group"
JOB_SCHEDULED = "interop-job-scheduled"
# Error statuses come from the contract's schemas, the single source of them.
ERRORS = json.loads((Path(__file__).resolve().parents[2] / "schemas/errors.json").read_text())

checks = 0


def passed(what):
    """Records and prints one passed check."""
    global checks
    checks += 1
    print(f"ok {checks:2} - {what}", flush=True)


def thing_arn(name):
    """The ARN the server names `name` by."""
    return f"arn:aws:iot:{REGION}:{ACCOUNT}:thing/{name}"


def document(job_id):
    """The job document text of `job_id`."""
    return json.dumps({"operation": "interop", "job": job_id})


class Wire:
    """Records the last request URL and raw response body a client exchanged."""

    def __init__(self, client):
        self.url = None
        self.content = None
        client.meta.events.register("before-send", self._sent)
        client.meta.events.register("after-call", self._received)

    def _sent(self, request, **_):
        self.url = request.url

    def _received(self, http_response, **_):
        self.content = http_response.content

    def body(self):
        """The last response body as parsed JSON (exactly as sent, before boto3's parsing)."""
        return json.loads(self.content)


def expect_error(call, exception, status, what):
    """Runs `call`, which must raise the SDK's typed `exception` with HTTP `status`."""
    try:
        result = call()
    except exception as e:
        meta = e.response["ResponseMetadata"]
        got = meta["HTTPStatusCode"]
        assert got == status, f"{what}: HTTP {got}, want {status}"
        assert e.response["Error"]["Message"], f"{what}: the error has no message: {e.response}"
        assert meta.get("RequestId"), f"{what}: no x-amzn-RequestId on the error: {meta}"
        passed(f"{what} -> {exception.__name__} ({status})")
    except Exception as e:
        want = exception.__name__
        raise AssertionError(f"{what}: raised {type(e).__name__}: {e}, want {want}") from e
    else:
        raise AssertionError(f"{what}: succeeded with {result}, want {exception.__name__}")


def assert_integer_timestamps(raw, what):
    """The raw JSON execution carries its timestamps as JSON integers (spec §1.3)."""
    for key in TIMESTAMPS:
        if key in raw:
            value = raw[key]
            assert type(value) is int, f"{what}: {key} is {value!r} on the wire, want an integer"


def seed(iot):
    """CreateThing, CreateJob (one with timeoutConfig) and DescribeJob via boto3's iot client."""
    for name in (THING, CANCEL_THING):
        out = iot.create_thing(thingName=name)
        assert out["thingName"] == name, f"CreateThing echoed {out['thingName']!r}"
        assert out["thingArn"] == thing_arn(name), f"CreateThing ARN {out['thingArn']!r}"
    passed(f"CreateThing {THING!r} and {CANCEL_THING!r} (':' in the name)")

    out = iot.create_job(
        jobId=JOB_TIMED,
        targets=[thing_arn(THING)],
        document=document(JOB_TIMED),
        description="interop job with a timeout",
        timeoutConfig={"inProgressTimeoutInMinutes": 60},
    )
    assert out["jobId"] == JOB_TIMED, f"CreateJob: {out}"
    assert out["jobArn"].endswith(f":job/{JOB_TIMED}"), f"CreateJob: {out}"
    for job_id, thing in ((JOB_PLAIN, THING), (JOB_CANCEL, CANCEL_THING)):
        iot.create_job(jobId=job_id, targets=[thing_arn(thing)], document=document(job_id))
    passed("CreateJob x3 (thing ARN targets, inline document, timeoutConfig)")

    job = iot.describe_job(jobId=JOB_TIMED)["job"]
    assert job["jobId"] == JOB_TIMED and job["status"] == "IN_PROGRESS", f"DescribeJob: {job}"
    assert job["targets"] == [thing_arn(THING)], f"DescribeJob targets: {job['targets']}"
    assert job["timeoutConfig"] == {"inProgressTimeoutInMinutes": 60}, f"DescribeJob: {job}"
    assert job["jobProcessDetails"]["numberOfQueuedThings"] == 1, f"DescribeJob: {job}"
    assert isinstance(job["createdAt"], datetime), f"createdAt parsed as {job['createdAt']!r}"
    passed("DescribeJob (status, targets, timeoutConfig, counts, createdAt as a timestamp)")


def happy_path(jobs, wire):
    """GetPending, Describe ($next, by id), StartNext and Update on the main thing."""
    out = jobs.get_pending_job_executions(thingName=THING)
    assert "%3A" in wire.url, f"boto3 did not percent-encode ':' in {wire.url}"
    assert out["inProgressJobs"] == [], f"inProgressJobs: {out['inProgressJobs']}"
    queued = [j["jobId"] for j in out["queuedJobs"]]
    assert queued == [JOB_TIMED, JOB_PLAIN], f"queuedJobs: {out['queuedJobs']}"
    for summary in wire.body()["queuedJobs"]:
        assert "status" not in summary and "startedAt" not in summary, f"summary: {summary}"
        assert_integer_timestamps(summary, "GetPending summary")
    queued_version = out["queuedJobs"][0]["versionNumber"]
    passed("GetPendingJobExecutions: both lists present, queued oldest first, integer timestamps")

    out = jobs.describe_job_execution(thingName=THING, jobId="$next")
    assert "/jobs/%24next" in wire.url, f"boto3 sent {wire.url}, expected the %24next label"
    e = out["execution"]
    assert e["jobId"] == JOB_TIMED and e["status"] == "QUEUED", f"Describe $next: {e}"
    assert "startedAt" not in e, f"a QUEUED execution has startedAt: {e}"
    passed("DescribeJobExecution jobId='$next' (sent as %24next) while QUEUED")

    details = {"step": "download", "progress": "0%"}
    out = jobs.start_next_pending_job_execution(
        thingName=THING, statusDetails=details, stepTimeoutInMinutes=30
    )
    e = out["execution"]
    assert "/jobs/$next" in wire.url, f"StartNext went to {wire.url}"
    assert e["jobId"] == JOB_TIMED and e["thingName"] == THING, f"StartNext: {e}"
    assert e["status"] == "IN_PROGRESS", f"StartNext status {e['status']}"
    assert e["statusDetails"] == details, f"statusDetails {e.get('statusDetails')}"
    assert e["versionNumber"] == queued_version + 1, f"versionNumber was {queued_version}: {e}"
    assert e["jobDocument"] == document(JOB_TIMED), f"jobDocument {e.get('jobDocument')!r}"
    assert 0 < e["approximateSecondsBeforeTimedOut"] <= 30 * 60, f"step timer: {e}"
    assert e["queuedAt"] <= e["startedAt"] <= e["lastUpdatedAt"], f"timestamps out of order: {e}"
    assert isinstance(e["executionNumber"], int), f"executionNumber {e['executionNumber']!r}"
    assert_integer_timestamps(wire.body()["execution"], "StartNext")
    passed("StartNextPendingJobExecution with statusDetails and stepTimeoutInMinutes")
    version, number = e["versionNumber"], e["executionNumber"]

    out = jobs.describe_job_execution(thingName=THING, jobId="$next")
    e = out["execution"]
    assert e["jobId"] == JOB_TIMED and e["status"] == "IN_PROGRESS", f"Describe $next: {e}"
    passed("DescribeJobExecution '$next' returns the IN_PROGRESS head")

    out = jobs.describe_job_execution(
        thingName=THING, jobId=JOB_TIMED, includeJobDocument=False, executionNumber=number
    )
    assert "includeJobDocument=false" in wire.url, f"query not on the wire: {wire.url}"
    assert f"executionNumber={number}" in wire.url, f"query not on the wire: {wire.url}"
    e = out["execution"]
    assert "jobDocument" not in e, f"jobDocument returned with includeJobDocument=False: {e}"
    assert e["executionNumber"] == number and e["versionNumber"] == version, f"Describe by id: {e}"
    passed("DescribeJobExecution by jobId with includeJobDocument=False and executionNumber")

    details = {"step": "install"}
    out = jobs.update_job_execution(
        thingName=THING,
        jobId=JOB_TIMED,
        status="IN_PROGRESS",
        statusDetails=details,
        expectedVersion=version,
        includeJobExecutionState=True,
        includeJobDocument=True,
        executionNumber=number,
    )
    state = out["executionState"]
    want = {"status": "IN_PROGRESS", "statusDetails": details, "versionNumber": version + 1}
    assert state == want, f"executionState {state}, want {want}"
    assert out["jobDocument"] == document(JOB_TIMED), f"jobDocument {out.get('jobDocument')!r}"
    passed("UpdateJobExecution with expectedVersion, includeJobExecutionState, includeJobDocument")
    version += 1

    expect_error(
        lambda: jobs.update_job_execution(
            thingName=THING, jobId=JOB_TIMED, status="IN_PROGRESS", expectedVersion=version - 1
        ),
        jobs.exceptions.InvalidStateTransitionException,
        409,
        "UpdateJobExecution with a stale expectedVersion",
    )
    out = jobs.describe_job_execution(thingName=THING, jobId=JOB_TIMED)
    assert out["execution"]["versionNumber"] == version, f"a refused update changed it: {out}"
    passed("the refused update left the execution unchanged")

    out = jobs.update_job_execution(
        thingName=THING, jobId=JOB_TIMED, status="SUCCEEDED", expectedVersion=version
    )
    assert set(out) == {"ResponseMetadata"}, f"Update without include flags returned {out}"
    expect_error(
        lambda: jobs.update_job_execution(thingName=THING, jobId=JOB_TIMED, status="IN_PROGRESS"),
        jobs.exceptions.InvalidStateTransitionException,
        409,
        "UpdateJobExecution SUCCEEDED -> IN_PROGRESS",
    )
    out = jobs.describe_job_execution(thingName=THING, jobId=JOB_TIMED)
    assert out["execution"]["status"] == "SUCCEEDED", f"Describe after SUCCEEDED: {out}"
    assert "approximateSecondsBeforeTimedOut" not in out["execution"], f"timer left: {out}"
    passed("a SUCCEEDED execution is described with its terminal status and no timer")


def errors(jobs):
    """Modelled errors surface as boto3's typed exceptions."""
    invalid = jobs.exceptions.InvalidRequestException
    expect_error(
        lambda: jobs.start_next_pending_job_execution(thingName=THING, stepTimeoutInMinutes=0),
        invalid,
        400,
        "StartNext stepTimeoutInMinutes=0",
    )
    expect_error(
        lambda: jobs.get_pending_job_executions(thingName="bad thing"),
        invalid,
        400,
        "GetPending thingName with a space",
    )
    expect_error(
        lambda: jobs.update_job_execution(
            thingName=THING,
            jobId=JOB_PLAIN,
            status="IN_PROGRESS",
            statusDetails={"step": "bell\x07"},
        ),
        invalid,
        400,
        "Update statusDetails value with a control character",
    )
    expect_error(
        lambda: jobs.describe_job_execution(thingName=THING, jobId="no-such-job"),
        jobs.exceptions.ResourceNotFoundException,
        404,
        "DescribeJobExecution of an unknown job",
    )


def aws(args, endpoint_url, ca):
    """Runs the AWS CLI (with `--ca-bundle ca` when given) and returns its parsed JSON output."""
    program = Path(sys.executable).with_name("aws")
    assert program.exists(), f"no AWS CLI at {program}; install awscli into the venv that runs this script"
    env = dict(
        os.environ,
        AWS_ACCESS_KEY_ID=ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=SECRET_KEY,
        AWS_DEFAULT_REGION=REGION,
        AWS_EC2_METADATA_DISABLED="true",
    )
    line = [str(program), *args, "--endpoint-url", endpoint_url, "--output", "json"]
    if ca:
        line += ["--ca-bundle", ca]
    run = subprocess.run(line, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, f"{' '.join(args)}: aws exited {run.returncode}\n{run.stdout}\n{run.stderr}"
    return json.loads(run.stdout)


def aws_cli(data_url, control_url, ca):
    """`aws iot-jobs-data get-pending-job-executions` and `aws iot describe-job` print JSON."""
    via = f" with --ca-bundle over {data_url.split(':')[0]}" if ca else ""
    out = aws(["iot-jobs-data", "get-pending-job-executions", "--thing-name", THING], data_url, ca)
    assert out["inProgressJobs"] == [], f"aws: inProgressJobs {out}"
    assert [j["jobId"] for j in out["queuedJobs"]] == [JOB_PLAIN], f"aws: queuedJobs {out}"
    passed(f"AWS CLI iot-jobs-data get-pending-job-executions JSON output{via}")
    # Its only execution SUCCEEDED in `happy_path`: the job is COMPLETED.
    job = aws(["iot", "describe-job", "--job-id", JOB_TIMED], control_url, ca)["job"]
    assert job["jobId"] == JOB_TIMED and job["status"] == "COMPLETED", f"aws: describe-job {job}"
    assert job["targets"] == [thing_arn(THING)], f"aws: describe-job targets {job['targets']}"
    assert job["jobProcessDetails"]["numberOfSucceededThings"] == 1, f"aws: describe-job {job}"
    passed(f"AWS CLI iot describe-job JSON output{via}: COMPLETED, one thing SUCCEEDED")


def untrusted(data_url, credentials):
    """Over TLS, boto3 trusting only its default bundle refuses the PKI's server certificate."""
    config = Config(retries={"max_attempts": 1})
    jobs = boto3.client("iot-jobs-data", endpoint_url=data_url, config=config, **credentials)
    try:
        out = jobs.get_pending_job_executions(thingName=THING)
    except SSLError:
        passed("boto3 without the PKI's CA: SSLError (the server certificate is not trusted by default)")
        return
    raise AssertionError(f"boto3 without the PKI's CA was answered {out}; the data plane is not TLS")


def mtls(mtls_url, pki, iot, credentials):
    """boto3 with botocore's `client_cert` on the mTLS data plane: a usable certificate is
    served, an expired one is answered CertificateValidationException."""
    ca = str(pki / "ca.pem")

    def device(thing):
        config = Config(retries={"max_attempts": 1}, client_cert=(str(pki / f"{thing}.pem"), str(pki / f"{thing}.key")))
        return boto3.client("iot-jobs-data", endpoint_url=mtls_url, verify=ca, config=config, **credentials)

    iot.create_thing(thingName=MTLS_THING)
    iot.create_job(jobId=JOB_MTLS, targets=[thing_arn(MTLS_THING)], document=document(JOB_MTLS))
    jobs = device(MTLS_THING)
    out = jobs.get_pending_job_executions(thingName=MTLS_THING)
    assert [j["jobId"] for j in out["queuedJobs"]] == [JOB_MTLS], f"mTLS GetPending: {out}"
    e = jobs.start_next_pending_job_execution(thingName=MTLS_THING)["execution"]
    assert e["jobId"] == JOB_MTLS and e["status"] == "IN_PROGRESS", f"mTLS StartNext: {e}"
    out = jobs.update_job_execution(
        thingName=MTLS_THING, jobId=JOB_MTLS, status="SUCCEEDED", includeJobExecutionState=True
    )
    assert out["executionState"]["status"] == "SUCCEEDED", f"mTLS Update: {out}"
    passed(f"mTLS data plane with client_cert={MTLS_THING}.pem: GetPending, StartNext, Update SUCCEEDED")

    code = "CertificateValidationException"
    status = ERRORS["dataPlane"][code]["httpStatus"]
    try:
        out = device(EXPIRED_THING).get_pending_job_executions(thingName=MTLS_THING)
    except ClientError as e:
        got = e.response["Error"]["Code"]
        assert got == code, f"expired certificate: error code {got!r}, want {code!r}: {e.response}"
        got = e.response["ResponseMetadata"]["HTTPStatusCode"]
        assert got == status, f"expired certificate: HTTP {got}, want {status}"
        message = e.response["Error"]["Message"]
        assert "expired" in message, f"expired certificate: message {message!r} does not say why"
        passed(f"mTLS data plane with an expired client_cert: ClientError {code} ({status})")
        return
    raise AssertionError(f"an expired client certificate was served: {out}")


def drain(jobs):
    """Finish the last job; then nothing is pending and StartNext returns no execution."""
    e = jobs.start_next_pending_job_execution(thingName=THING)["execution"]
    assert e["jobId"] == JOB_PLAIN and e["status"] == "IN_PROGRESS", f"StartNext: {e}"
    assert "statusDetails" not in e, f"StartNext invented statusDetails: {e}"
    assert "approximateSecondsBeforeTimedOut" not in e, f"StartNext invented a timer: {e}"
    jobs.update_job_execution(thingName=THING, jobId=JOB_PLAIN, status="SUCCEEDED")
    out = jobs.get_pending_job_executions(thingName=THING)
    assert out["inProgressJobs"] == [] and out["queuedJobs"] == [], f"GetPending: {out}"
    passed("GetPendingJobExecutions with nothing pending: both lists present and empty")
    out = jobs.start_next_pending_job_execution(thingName=THING)
    assert "execution" not in out, f"StartNext returned {out['execution']}"
    out = jobs.describe_job_execution(thingName=THING, jobId="$next")
    assert "execution" not in out, f"Describe $next returned {out['execution']}"
    passed("StartNext and Describe '$next' with nothing pending: no execution")


def cancel(iot, jobs):
    """CancelJob(force=True) cancels an IN_PROGRESS execution on a separate thing."""
    e = jobs.start_next_pending_job_execution(thingName=CANCEL_THING)["execution"]
    assert e["jobId"] == JOB_CANCEL and e["status"] == "IN_PROGRESS", f"StartNext: {e}"
    out = iot.cancel_job(jobId=JOB_CANCEL, force=True, comment="interop cancel")
    assert out["jobId"] == JOB_CANCEL, f"CancelJob: {out}"
    assert out["jobArn"].endswith(f":job/{JOB_CANCEL}"), f"CancelJob: {out}"
    job = iot.describe_job(jobId=JOB_CANCEL)["job"]
    assert job["status"] == "CANCELED" and job["forceCanceled"] is True, f"DescribeJob: {job}"
    assert job["jobProcessDetails"]["numberOfCanceledThings"] == 1, f"DescribeJob: {job}"
    e = jobs.describe_job_execution(thingName=CANCEL_THING, jobId=JOB_CANCEL)["execution"]
    assert e["status"] == "CANCELED", f"execution after CancelJob(force=True): {e}"
    out = jobs.get_pending_job_executions(thingName=CANCEL_THING)
    assert out["inProgressJobs"] == [] and out["queuedJobs"] == [], f"GetPending: {out}"
    passed("CancelJob(force=True) cancels the IN_PROGRESS execution; DescribeJob shows CANCELED")


def paced(iot):
    """CreateJob with a rollout rate and abort criteria; DescribeJob echoes them and counts the
    one execution rolled out; CancelJobExecution (its refusals typed) and DeleteThing."""
    for name in PACED_THINGS:
        iot.create_thing(thingName=name)
    rollout = {
        "maximumPerMinute": 1,
        "exponentialRate": {
            "baseRatePerMinute": 1,
            "incrementFactor": 1.5,
            "rateIncreaseCriteria": {"numberOfSucceededThings": 10},
        },
    }
    abort = {
        "criteriaList": [
            {
                "failureType": "ALL",
                "action": "CANCEL",
                "thresholdPercentage": 12.5,
                "minNumberOfExecutedThings": 10,
            }
        ]
    }
    iot.create_job(
        jobId=JOB_PACED,
        targets=[thing_arn(name) for name in PACED_THINGS],
        document=document(JOB_PACED),
        jobExecutionsRolloutConfig=rollout,
        abortConfig=abort,
    )
    job = iot.describe_job(jobId=JOB_PACED)["job"]
    assert job["jobExecutionsRolloutConfig"] == rollout, f"DescribeJob: {job}"
    assert job["abortConfig"] == abort, f"DescribeJob: {job}"
    counts = job["jobProcessDetails"]
    assert counts["numberOfQueuedThings"] == 1, f"one rolled out at once: {counts}"
    passed("CreateJob with jobExecutionsRolloutConfig and abortConfig; DescribeJob echoes them")

    first = PACED_THINGS[0]
    expect_error(
        lambda: iot.cancel_job_execution(jobId=JOB_PACED, thingName=first, expectedVersion=9),
        iot.exceptions.VersionConflictException,
        409,
        "CancelJobExecution with a stale expectedVersion",
    )
    out = iot.cancel_job_execution(
        jobId=JOB_PACED, thingName=first, expectedVersion=1, statusDetails={"by": "interop"}
    )
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 200, f"CancelJobExecution: {out}"
    e = iot.describe_job_execution(jobId=JOB_PACED, thingName=first)["execution"]
    assert e["status"] == "CANCELED", f"after CancelJobExecution: {e}"
    assert e["statusDetails"] == {"detailsMap": {"by": "interop"}}, f"statusDetails: {e}"
    expect_error(
        lambda: iot.cancel_job_execution(jobId=JOB_PACED, thingName=first),
        iot.exceptions.InvalidStateTransitionException,
        409,
        "CancelJobExecution of a CANCELED execution",
    )
    counts = iot.describe_job(jobId=JOB_PACED)["job"]["jobProcessDetails"]
    assert counts["numberOfCanceledThings"] == 1 and counts["numberOfQueuedThings"] == 0, counts
    passed("CancelJobExecution cancels the QUEUED execution; DescribeJob counts it CANCELED")

    # Last calls on these things: a replay of this session's capture knows no DeleteThing.
    for name in PACED_THINGS:
        out = iot.delete_thing(thingName=name)
        assert out["ResponseMetadata"]["HTTPStatusCode"] == 200, f"DeleteThing: {out}"
    passed("DeleteThing answers 200 with an empty body botocore accepts")


def groups(iot):
    """CreateThingGroup, AddThingToThingGroup (by name and by ARN), a CONTINUOUS job on the
    group that a later member joins, RemoveThingFromThingGroup."""
    for name in GROUP_THINGS:
        iot.create_thing(thingName=name)
    out = iot.create_thing_group(thingGroupName=GROUP)
    assert out["thingGroupName"] == GROUP and out["thingGroupArn"].endswith(f":thinggroup/{GROUP}"), out
    group_arn = out["thingGroupArn"]
    iot.add_thing_to_thing_group(thingGroupName=GROUP, thingName=GROUP_THINGS[0])
    passed("CreateThingGroup and AddThingToThingGroup by name")
    iot.create_job(
        jobId=JOB_GROUP,
        targets=[group_arn],
        document=document(JOB_GROUP),
        targetSelection="CONTINUOUS",
    )
    iot.add_thing_to_thing_group(thingGroupArn=group_arn, thingArn=thing_arn(GROUP_THINGS[1]))
    job = iot.describe_job(jobId=JOB_GROUP)["job"]
    assert job["targetSelection"] == "CONTINUOUS" and job["targets"] == [group_arn], f"DescribeJob: {job}"
    assert job["jobProcessDetails"]["numberOfQueuedThings"] == 2, f"DescribeJob: {job}"
    passed("a CONTINUOUS job on a thing group: a thing added by ARN later is queued too")
    iot.remove_thing_from_thing_group(thingGroupName=GROUP, thingName=GROUP_THINGS[0])
    counts = iot.describe_job(jobId=JOB_GROUP)["job"]["jobProcessDetails"]
    assert counts["numberOfRemovedThings"] == 1 and counts["numberOfQueuedThings"] == 1, counts
    passed("RemoveThingFromThingGroup: the CONTINUOUS job's execution is REMOVED")


def scheduled(iot):
    """CreateJob with a schedulingConfig two hours ahead: nothing is rolled out yet, and
    DescribeJob echoes the schedule."""
    start = (datetime.now(timezone.utc) + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    end = (datetime.now(timezone.utc) + timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M")
    scheduling = {
        "startTime": start,
        "endTime": end,
        "endBehavior": "STOP_ROLLOUT",
        "maintenanceWindows": [{"startTime": "cron(0 3 ? * SUN *)", "durationInMinutes": 120}],
    }
    iot.create_job(
        jobId=JOB_SCHEDULED,
        targets=[thing_arn(THING)],
        document=document(JOB_SCHEDULED),
        schedulingConfig=scheduling,
    )
    job = iot.describe_job(jobId=JOB_SCHEDULED)["job"]
    assert job["schedulingConfig"] == scheduling, f"DescribeJob: {job}"
    assert job["jobProcessDetails"]["numberOfQueuedThings"] == 0, f"DescribeJob: {job}"
    passed("CreateJob with schedulingConfig: nothing rolled out before startTime; DescribeJob echoes it")


def arguments():
    """The command line."""
    parser = argparse.ArgumentParser(description="boto3 and the AWS CLI against jobcert serve.")
    parser.add_argument("data_url", help="the data plane's base URL")
    parser.add_argument("control_url", help="the control plane's base URL")
    parser.add_argument("--tls", metavar="PKI_DIR", help="trust this `jobcert pki` folder's ca.pem")
    parser.add_argument("--mtls", metavar="MTLS_URL", help="the mTLS data plane (needs --tls)")
    args = parser.parse_args()
    if args.mtls and not args.tls:
        parser.error("--mtls needs --tls")
    return args


def main():
    """Runs every check against the server's data plane and control plane."""
    args = arguments()
    if not __debug__:
        sys.exit("the checks are assert statements: run without -O")
    data_url, control_url = args.data_url, args.control_url
    pki = Path(args.tls) if args.tls else None
    ca = str(pki / "ca.pem") if pki else None
    # Keep any local AWS configuration out of both clients and the CLI.
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    credentials = dict(
        region_name=REGION, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY
    )
    config = Config(retries={"max_attempts": 1}, parameter_validation=False)
    iot = boto3.client("iot", endpoint_url=control_url, verify=ca, config=config, **credentials)
    jobs = boto3.client("iot-jobs-data", endpoint_url=data_url, verify=ca, config=config, **credentials)
    wire = Wire(jobs)

    if pki:
        untrusted(data_url, credentials)
    seed(iot)
    happy_path(jobs, wire)
    errors(jobs)
    aws_cli(data_url, control_url, ca)
    drain(jobs)
    cancel(iot, jobs)
    paced(iot)
    groups(iot)
    scheduled(iot)
    if args.mtls:
        mtls(args.mtls, pki, iot, credentials)
    print(f"boto3 interop: {checks} checks passed")


if __name__ == "__main__":
    main()
