"""Wire-compatibility check of `jobcert serve` over MQTT against the AWS IoT Device SDK v2 for
Python (`awsiotsdk`, on the AWS Common Runtime `awscrt`).

Usage: device_sdk_interop.py MQTT_HOST MQTT_PORT CONTROL_PLANE_URL [--tls PKI_DIR]

The broker at MQTT_HOST:MQTT_PORT is either the server's embedded broker or a broker the server
is attached to (`--mqtt-broker`); the script cannot tell and does not need to. It seeds things
and jobs through boto3's `iot` client (control plane), then drives the Jobs MQTT API with the
real SDK:

  (a) the V2 request-response client `IotJobsClientV2` over MQTT 5, with the notify-next stream;
  (b) `IotJobsClientV2` over MQTT 3.1.1;
  (c) the legacy V1 `IotJobsClient` (subscribe / publish / callback) over MQTT 3.1.1.

Without `--tls` the broker is plain TCP (awscrt clients built with no TLS context, PEERS.md
§3.1). With `--tls PKI_DIR` (a folder made by `jobcert pki`) the broker is `jobcert serve
--mqtts` and the control plane `https://`: boto3 trusts PKI_DIR/ca.pem, and every connection
comes from the SDK's own builders, `mqtt5_client_builder.mtls_from_path` and
`mqtt_connection_builder.mtls_from_path`, with PKI_DIR/{thing}.pem and .key, `ca_filepath` =
PKI_DIR/ca.pem and the thing name as client id (what `--policy own-thing` demands). Then

  (d) a 3.1.1 connection whose TLS context offers ALPN `x-amzn-mqtt-ca` (what the builders offer
      on port 443) starts and finishes a job through `IotJobsClientV2`.

Every wait is bounded. Prints one line per check and exits non-zero on the first failure; the
last line is `device sdk interop: N checks passed`.
"""

import argparse
import json
import queue
import sys
import threading
import traceback
from concurrent.futures import Future
from datetime import datetime
from pathlib import Path

import boto3
from awscrt import io, mqtt, mqtt5, mqtt_request_response
from awsiot import ServiceStreamOptions, V2ServiceException, iotjobs, mqtt5_client_builder, mqtt_connection_builder
from botocore.config import Config

REGION = "us-east-1"
ACCOUNT = "123456789012"
# How long any single wait may take (connect, subscribe, a request's answer, an event).
WAIT_S = 10
# How far a reply's `timestamp` may be from this machine's clock (the server's clock runs at
# scale 1 and starts at the wall clock; epoch seconds, spec §1.3).
CLOCK_SLACK_S = 120

THING_V2_MQTT5 = "sdk-thing-1"
THING_V2_MQTT311 = "sdk-thing-2"
THING_V1 = "sdk-thing-3"
THING_ALPN = "sdk-thing-4"
JOB_FIRST = "sdk-job-1"
JOB_SECOND = "sdk-job-2"
JOB_V2_MQTT311 = "sdk-job-3"
JOB_V1 = "sdk-job-4"
JOB_ALPN = "sdk-job-5"
# The ALPN protocol AWS IoT serves MQTT with client certificates on port 443.
ALPN_MQTT_CA = "x-amzn-mqtt-ca"

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
    """The job document of `job_id`, as a dict (MQTT carries it as a JSON object, spec §3.5)."""
    return {"operation": "install", "job": job_id, "steps": [1, 2]}


def assert_timestamp(value, what):
    """`value` is a reply timestamp the SDK parsed from epoch seconds into a recent datetime."""
    assert isinstance(value, datetime), f"{what}: timestamp {value!r} is not a datetime"
    skew = abs((value - datetime.now()).total_seconds())
    assert skew <= CLOCK_SLACK_S, f"{what}: timestamp {value} is {skew:.0f} s from now"


def describe_failure(e):
    """A readable account of an exception the SDK raised, including the modeled error."""
    if isinstance(e, V2ServiceException):
        modeled = e.modeled_error
        modeled_text = None
        if modeled is not None:
            modeled_text = {k: getattr(modeled, k, None) for k in modeled.__slots__}
        return f"V2ServiceException({e.message!r}, inner_error={e.inner_error!r}, modeled_error={modeled_text})"
    return f"{type(e).__name__}: {e}"


def result(future, what):
    """The result of an SDK future, waited for at most WAIT_S."""
    try:
        return future.result(WAIT_S)
    except Exception as e:
        raise AssertionError(f"{what}: {describe_failure(e)}") from e


def rejected(future, code, what):
    """The modeled error of a V2 call that must be rejected on `…/rejected` with `code`."""
    try:
        out = future.result(WAIT_S)
    except V2ServiceException as e:
        error = e.modeled_error
        assert error is not None, f"{what}: no modeled error (not a …/rejected reply): {describe_failure(e)}"
        assert error.code == code, f"{what}: code {error.code!r}, want {code!r}: {describe_failure(e)}"
        assert error.message, f"{what}: the rejection has no message: {describe_failure(e)}"
        assert error.client_token, f"{what}: the rejection echoes no clientToken"
        assert_timestamp(error.timestamp, what)
        return error
    except Exception as e:
        raise AssertionError(f"{what}: raised {describe_failure(e)}, want V2ServiceException") from e
    raise AssertionError(f"{what}: accepted with {out}, want rejected with {code}")


# ---------------------------------------------------------------------------------------------
# Control plane


def control_plane(url, transport):
    """boto3's `iot` client for the server's control plane (trusting the PKI's CA over TLS)."""
    return boto3.client(
        "iot",
        region_name=REGION,
        endpoint_url=url,
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        verify=transport.ca,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )


def create_job(iot, job_id, thing):
    """CreateJob targeting one thing, with an inline JSON document."""
    out = iot.create_job(jobId=job_id, targets=[thing_arn(thing)], document=json.dumps(document(job_id)))
    assert out["jobId"] == job_id, f"CreateJob {job_id}: {out}"


def seed(iot, transport):
    """The things of every part, and the jobs of parts (b), (c) and, over TLS, (d). Part (a)'s
    jobs are created later, while its notify-next stream listens."""
    things = [THING_V2_MQTT5, THING_V2_MQTT311, THING_V1]
    jobs = [(JOB_V2_MQTT311, THING_V2_MQTT311), (JOB_V1, THING_V1)]
    if transport.tls:
        things.append(THING_ALPN)
        jobs.append((JOB_ALPN, THING_ALPN))
    for name in things:
        out = iot.create_thing(thingName=name)
        assert out["thingArn"] == thing_arn(name), f"CreateThing {name}: {out}"
    for job_id, thing in jobs:
        create_job(iot, job_id, thing)
    passed(f"control plane ({transport.http}): CreateThing x{len(things)}, CreateJob {', '.join(j for j, _ in jobs)}")


# ---------------------------------------------------------------------------------------------
# Connections: plain TCP (no TLS context, PEERS.md §3.1) or mTLS from the SDK's builders


class Transport:
    """How the devices reach the broker: plain TCP, or mTLS with a `jobcert pki` folder."""

    def __init__(self, host, port, pki):
        self.host = host
        self.port = port
        self.pki = Path(pki) if pki else None
        self.tls = self.pki is not None
        self.label = "mTLS" if self.tls else "plain TCP"
        self.http = "https" if self.tls else "http"
        # boto3's `verify`: the PKI's CA over TLS, botocore's default otherwise.
        self.ca = str(self.pki / "ca.pem") if self.tls else None

    def client_id(self, thing, role):
        """Over mTLS the thing name itself (`--policy own-thing` admits no other client id)."""
        return thing if self.tls else f"{thing}-{role}"

    def files(self, thing):
        """The builders' file arguments for `thing`'s certificate and the CA."""
        return dict(
            cert_filepath=str(self.pki / f"{thing}.pem"),
            pri_key_filepath=str(self.pki / f"{thing}.key"),
            ca_filepath=self.ca,
        )


class Mqtt5:
    """An awscrt MQTT 5 client, started and connected, stopped by `close()`."""

    def __init__(self, transport, thing, client_id):
        self.connected = Future()
        self.stopped = Future()

        def on_success(_):
            if not self.connected.done():
                self.connected.set_result(True)

        def on_failure(data):
            if not self.connected.done():
                self.connected.set_exception(Exception(f"connection failure: {data.exception}"))

        def on_stopped(_):
            if not self.stopped.done():
                self.stopped.set_result(True)

        if transport.tls:
            self.client = mqtt5_client_builder.mtls_from_path(
                endpoint=transport.host,
                port=transport.port,
                client_id=client_id,
                keep_alive_interval_sec=30,
                on_lifecycle_connection_success=on_success,
                on_lifecycle_connection_failure=on_failure,
                on_lifecycle_stopped=on_stopped,
                **transport.files(thing),
            )
        else:
            options = mqtt5.ClientOptions(
                host_name=transport.host,
                port=transport.port,
                connect_options=mqtt5.ConnectPacket(client_id=client_id, keep_alive_interval_sec=30),
                on_lifecycle_event_connection_success_fn=on_success,
                on_lifecycle_event_connection_failure_fn=on_failure,
                on_lifecycle_event_stopped_fn=on_stopped,
            )
            self.client = mqtt5.Client(options)
        self.client.start()
        result(self.connected, f"MQTT 5 connect as {client_id}")

    def close(self):
        self.client.stop()
        self.stopped.result(WAIT_S)


class Mqtt311:
    """An awscrt MQTT 3.1.1 connection, connected, disconnected by `close()`. With `alpn`, an
    mTLS context built by hand that offers those ALPN protocols (the builders offer
    `x-amzn-mqtt-ca` on port 443 only)."""

    def __init__(self, transport, thing, client_id, alpn=None):
        if transport.tls and alpn is None:
            self.connection = mqtt_connection_builder.mtls_from_path(
                endpoint=transport.host,
                port=transport.port,
                client_id=client_id,
                clean_session=True,
                keep_alive_secs=30,
                **transport.files(thing),
            )
        else:
            tls_ctx = None
            if transport.tls:
                files = transport.files(thing)
                options = io.TlsContextOptions.create_client_with_mtls_from_path(
                    files["cert_filepath"], files["pri_key_filepath"]
                )
                options.override_default_trust_store_from_path(None, files["ca_filepath"])
                options.alpn_list = alpn
                tls_ctx = io.ClientTlsContext(options)
            client = mqtt.Client(io.ClientBootstrap.get_or_create_static_default(), tls_ctx=tls_ctx)
            self.connection = mqtt.Connection(
                client=client,
                host_name=transport.host,
                port=transport.port,
                client_id=client_id,
                clean_session=True,
                keep_alive_secs=30,
            )
        result(self.connection.connect(), f"MQTT 3.1.1 connect as {client_id}")

    def close(self):
        self.connection.disconnect().result(WAIT_S)


def v2_client(protocol_client):
    """The V2 request-response Jobs client over an MQTT 5 client or a 3.1.1 connection."""
    return iotjobs.IotJobsClientV2(
        protocol_client,
        mqtt_request_response.ClientOptions(
            max_request_response_subscriptions=4,
            max_streaming_subscriptions=2,
            operation_timeout_in_seconds=WAIT_S,
        ),
    )


# ---------------------------------------------------------------------------------------------
# (a) IotJobsClientV2 over MQTT 5, with the notify-next stream


class NextStream:
    """The notify-next stream of one thing; events queue up in arrival order."""

    def __init__(self, jobs, thing):
        self.thing = thing
        self.events = queue.Queue()
        self.failures = queue.Queue()
        self.established = threading.Event()

        def on_status(event):
            if event.type == mqtt_request_response.SubscriptionStatusEventType.SUBSCRIPTION_ESTABLISHED:
                self.established.set()

        self.stream = jobs.create_next_job_execution_changed_stream(
            iotjobs.NextJobExecutionChangedSubscriptionRequest(thing_name=thing),
            ServiceStreamOptions(
                incoming_event_listener=self.events.put,
                subscription_status_listener=on_status,
                deserialization_failure_listener=self.failures.put,
            ),
        )
        self.stream.open()
        assert self.established.wait(WAIT_S), f"notify-next stream of {thing}: not subscribed in {WAIT_S} s"

    def next(self, what):
        """The next event, waited for at most WAIT_S."""
        try:
            event = self.events.get(timeout=WAIT_S)
        except queue.Empty:
            bad = []
            while not self.failures.empty():
                f = self.failures.get()
                bad.append(f"{f.message}: {f.inner_error!r} payload={f.payload!r}")
            raise AssertionError(
                f"{what}: no notify-next event for {self.thing} in {WAIT_S} s"
                + (f"; undeserializable events: {bad}" if bad else "")
            ) from None
        assert_timestamp(event.timestamp, f"{what} (event timestamp)")
        return event

    def assert_quiet(self, what):
        """Nothing arrived that was not taken (checked right after an awaited event, so
        everything the server sent earlier has been delivered: one connection, in order)."""
        extra = []
        while not self.events.empty():
            e = self.events.get()
            extra.append(e.execution.job_id if e.execution else None)
        assert not extra, f"{what}: unexpected extra notify-next events for {extra}"
        assert self.failures.empty(), f"{what}: an event could not be deserialized: {self.failures.get().payload!r}"


def v2_over_mqtt5(transport, iot):
    """Part (a): every operation through IotJobsClientV2 over MQTT 5, plus notify-next."""
    thing = THING_V2_MQTT5
    client_id = transport.client_id(thing, "v2-mqtt5")
    conn = Mqtt5(transport, thing, client_id)
    passed(f"(a) MQTT 5 connect ({transport.label}) as {client_id}")
    try:
        jobs = v2_client(conn.client)
        stream = NextStream(jobs, thing)
        passed("(a) notify-next stream subscribed (SUBSCRIPTION_ESTABLISHED)")

        # A job created through the control plane becomes the head: notify-next carries it.
        create_job(iot, JOB_FIRST, thing)
        event = stream.next("(a) CreateJob of the first job")
        e = event.execution
        assert e is not None, "(a) notify-next after CreateJob has no execution"
        assert e.job_id == JOB_FIRST and e.status == "QUEUED", f"notify-next execution {e}"
        assert e.job_document == document(JOB_FIRST), f"notify-next jobDocument {e.job_document!r}"
        passed("(a) notify-next event on CreateJob: new head, QUEUED, jobDocument a JSON object")

        create_job(iot, JOB_SECOND, thing)
        out = result(
            jobs.get_pending_job_executions(iotjobs.GetPendingJobExecutionsRequest(thing_name=thing)),
            "(a) get_pending_job_executions",
        )
        assert out.in_progress_jobs == [], f"inProgressJobs {out.in_progress_jobs}"
        queued = [j.job_id for j in out.queued_jobs or []]
        assert queued == [JOB_FIRST, JOB_SECOND], f"queuedJobs {queued}"
        for summary in out.queued_jobs:
            assert isinstance(summary.queued_at, datetime), f"queuedAt {summary.queued_at!r}"
            assert summary.started_at is None, f"a QUEUED summary has startedAt: {summary}"
            assert isinstance(summary.version_number, int), f"versionNumber {summary.version_number!r}"
        assert out.client_token, "get/accepted echoes no clientToken"
        assert_timestamp(out.timestamp, "(a) get_pending_job_executions")
        passed("(a) get_pending_job_executions: no IN_PROGRESS, both jobs QUEUED oldest first")
        queued_version = out.queued_jobs[0].version_number

        out = result(
            jobs.describe_job_execution(
                iotjobs.DescribeJobExecutionRequest(thing_name=thing, job_id="$next", include_job_document=True)
            ),
            "(a) describe_job_execution $next",
        )
        e = out.execution
        assert e is not None and e.job_id == JOB_FIRST and e.status == "QUEUED", f"describe $next: {e}"
        assert e.job_document == document(JOB_FIRST), f"jobDocument {e.job_document!r}"
        passed("(a) describe_job_execution '$next' while QUEUED, with the jobDocument")

        details = {"step": "download", "progress": "0%"}
        out = result(
            jobs.start_next_pending_job_execution(
                iotjobs.StartNextPendingJobExecutionRequest(
                    thing_name=thing, status_details=details, step_timeout_in_minutes=30
                )
            ),
            "(a) start_next_pending_job_execution",
        )
        e = out.execution
        assert e is not None, f"start-next/accepted has no execution: {out}"
        assert e.job_id == JOB_FIRST and e.thing_name == thing, f"start-next: {e}"
        assert e.status == "IN_PROGRESS", f"start-next status {e.status}"
        assert isinstance(e.job_document, dict), f"jobDocument is {type(e.job_document).__name__}: {e.job_document!r}"
        assert e.job_document == document(JOB_FIRST), f"jobDocument {e.job_document!r}"
        assert e.status_details == details, f"statusDetails {e.status_details}"
        assert e.version_number == queued_version + 1, f"versionNumber was {queued_version}: {e}"
        assert isinstance(e.started_at, datetime), f"startedAt {e.started_at!r}"
        assert e.queued_at <= e.started_at <= e.last_updated_at, f"timestamps out of order: {e}"
        assert_timestamp(out.timestamp, "(a) start-next")
        passed("(a) start_next_pending_job_execution: first job IN_PROGRESS, jobDocument a dict")
        version, number = e.version_number, e.execution_number

        out = result(
            jobs.describe_job_execution(iotjobs.DescribeJobExecutionRequest(thing_name=thing, job_id="$next")),
            "(a) describe_job_execution $next after start",
        )
        e = out.execution
        assert e is not None and e.job_id == JOB_FIRST and e.status == "IN_PROGRESS", f"describe $next: {e}"
        passed("(a) describe_job_execution '$next' returns the IN_PROGRESS head")

        out = result(
            jobs.describe_job_execution(
                iotjobs.DescribeJobExecutionRequest(
                    thing_name=thing, job_id=JOB_FIRST, execution_number=number, include_job_document=False
                )
            ),
            "(a) describe_job_execution by id",
        )
        e = out.execution
        assert e is not None and e.job_id == JOB_FIRST, f"describe by id: {e}"
        assert e.status == "IN_PROGRESS" and e.version_number == version, f"describe by id: {e}"
        assert e.execution_number == number, f"describe by id: executionNumber {e.execution_number}"
        assert e.status_details == details, f"describe by id: statusDetails {e.status_details}"
        assert e.job_document is None, f"jobDocument returned with includeJobDocument=false: {e.job_document!r}"
        passed("(a) describe_job_execution by jobId with executionNumber, includeJobDocument=false")

        error = rejected(
            jobs.update_job_execution(
                iotjobs.UpdateJobExecutionRequest(
                    thing_name=thing, job_id=JOB_FIRST, status="SUCCEEDED", expected_version=version - 1
                )
            ),
            "VersionMismatch",
            "(a) update_job_execution with a stale expected_version",
        )
        state = error.execution_state
        assert state is not None, "VersionMismatch carries no executionState (spec §3.6)"
        assert state.status == "IN_PROGRESS" and state.version_number == version, f"executionState {state}"
        passed("(a) stale expected_version -> V2ServiceException, modeled VersionMismatch + executionState")

        done = {"step": "done"}
        out = result(
            jobs.update_job_execution(
                iotjobs.UpdateJobExecutionRequest(
                    thing_name=thing,
                    job_id=JOB_FIRST,
                    status="SUCCEEDED",
                    status_details=done,
                    expected_version=version,
                    include_job_execution_state=True,
                )
            ),
            "(a) update_job_execution SUCCEEDED",
        )
        state = out.execution_state
        assert state is not None, f"update/accepted has no executionState: {out}"
        assert state.status == "SUCCEEDED" and state.version_number == version + 1, f"executionState {state}"
        assert state.status_details == done, f"executionState statusDetails {state.status_details}"
        assert out.job_document is None, f"jobDocument without includeJobDocument: {out.job_document!r}"
        assert_timestamp(out.timestamp, "(a) update")
        passed("(a) update_job_execution SUCCEEDED with expected_version, include_job_execution_state")

        # The head became terminal: notify-next names the second job; starting the first job
        # earlier changed no head identity, so nothing else was sent (spec §3.7).
        event = stream.next("(a) the first job SUCCEEDED")
        e = event.execution
        assert e is not None and e.job_id == JOB_SECOND and e.status == "QUEUED", f"notify-next execution {e}"
        assert e.job_document == document(JOB_SECOND), f"notify-next jobDocument {e.job_document!r}"
        stream.assert_quiet("(a) notify-next after SUCCEEDED")
        passed("(a) notify-next event when the head became terminal: the second job, nothing else before")

        error = rejected(
            jobs.update_job_execution(
                iotjobs.UpdateJobExecutionRequest(thing_name=thing, job_id=JOB_FIRST, status="IN_PROGRESS")
            ),
            "InvalidStateTransition",
            "(a) update_job_execution SUCCEEDED -> IN_PROGRESS",
        )
        state = error.execution_state
        assert state is not None and state.status == "SUCCEEDED", f"executionState {state}"
        passed("(a) SUCCEEDED -> IN_PROGRESS -> V2ServiceException, modeled InvalidStateTransition")

        rejected(
            jobs.describe_job_execution(iotjobs.DescribeJobExecutionRequest(thing_name=thing, job_id="no-such-job")),
            "ResourceNotFound",
            "(a) describe_job_execution of an unknown job",
        )
        passed("(a) describe of an unknown job -> V2ServiceException, modeled ResourceNotFound")

        # Drain the queue: the last head leaving sends a notify-next without an execution.
        out = result(
            jobs.start_next_pending_job_execution(iotjobs.StartNextPendingJobExecutionRequest(thing_name=thing)),
            "(a) start_next of the second job",
        )
        assert out.execution is not None and out.execution.job_id == JOB_SECOND, f"start-next: {out.execution}"
        assert out.execution.status_details is None, f"start-next invented statusDetails: {out.execution}"
        result(
            jobs.update_job_execution(
                iotjobs.UpdateJobExecutionRequest(thing_name=thing, job_id=JOB_SECOND, status="SUCCEEDED")
            ),
            "(a) update_job_execution of the second job",
        )
        event = stream.next("(a) the queue became empty")
        assert event.execution is None, f"notify-next on an empty queue has an execution: {event.execution}"
        stream.assert_quiet("(a) notify-next after the queue emptied")
        passed("(a) notify-next without an execution once nothing is pending")

        out = result(
            jobs.start_next_pending_job_execution(iotjobs.StartNextPendingJobExecutionRequest(thing_name=thing)),
            "(a) start_next with nothing pending",
        )
        assert out.execution is None, f"start-next with nothing pending returned {out.execution}"
        out = result(
            jobs.describe_job_execution(iotjobs.DescribeJobExecutionRequest(thing_name=thing, job_id="$next")),
            "(a) describe $next with nothing pending",
        )
        assert out.execution is None, f"describe $next with nothing pending returned {out.execution}"
        out = result(
            jobs.get_pending_job_executions(iotjobs.GetPendingJobExecutionsRequest(thing_name=thing)),
            "(a) get_pending with nothing pending",
        )
        assert out.in_progress_jobs == [] and out.queued_jobs == [], f"get_pending: {out}"
        passed("(a) nothing pending: start-next and describe '$next' accepted without execution, empty lists")
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------------
# (b) IotJobsClientV2 over MQTT 3.1.1


def v2_over_mqtt311(transport):
    """Part (b): start-next and update (and a rejection) through IotJobsClientV2 over 3.1.1."""
    thing = THING_V2_MQTT311
    client_id = transport.client_id(thing, "v2-mqtt311")
    conn = Mqtt311(transport, thing, client_id)
    passed(f"(b) MQTT 3.1.1 connect ({transport.label}) as {client_id}")
    try:
        jobs = v2_client(conn.connection)
        out = result(
            jobs.start_next_pending_job_execution(
                iotjobs.StartNextPendingJobExecutionRequest(thing_name=thing, status_details={"via": "mqtt311"})
            ),
            "(b) start_next_pending_job_execution",
        )
        e = out.execution
        assert e is not None and e.job_id == JOB_V2_MQTT311, f"start-next: {e}"
        assert e.status == "IN_PROGRESS", f"start-next status {e.status}"
        assert e.job_document == document(JOB_V2_MQTT311), f"jobDocument {e.job_document!r}"
        assert_timestamp(out.timestamp, "(b) start-next")
        passed("(b) start_next_pending_job_execution over 3.1.1: IN_PROGRESS, jobDocument a dict")

        version = e.version_number
        out = result(
            jobs.update_job_execution(
                iotjobs.UpdateJobExecutionRequest(
                    thing_name=thing,
                    job_id=JOB_V2_MQTT311,
                    status="SUCCEEDED",
                    expected_version=version,
                    include_job_execution_state=True,
                    include_job_document=True,
                )
            ),
            "(b) update_job_execution SUCCEEDED",
        )
        state = out.execution_state
        assert state is not None and state.status == "SUCCEEDED", f"executionState {state}"
        assert state.version_number == version + 1, f"executionState {state}"
        assert out.job_document == document(JOB_V2_MQTT311), f"update jobDocument {out.job_document!r}"
        passed("(b) update_job_execution over 3.1.1 with include_job_execution_state and include_job_document")

        rejected(
            jobs.update_job_execution(
                iotjobs.UpdateJobExecutionRequest(thing_name=thing, job_id=JOB_V2_MQTT311, status="FAILED")
            ),
            "InvalidStateTransition",
            "(b) update_job_execution SUCCEEDED -> FAILED",
        )
        passed("(b) SUCCEEDED -> FAILED over 3.1.1 -> modeled InvalidStateTransition")
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------------
# (c) legacy IotJobsClient over MQTT 3.1.1


class Replies:
    """Callbacks of the V1 client: every reply (or None when the SDK could not parse it)."""

    def __init__(self):
        self.items = queue.Queue()

    def callback(self, kind):
        return lambda reply: self.items.put((kind, reply))

    def next(self, what):
        try:
            return self.items.get(timeout=WAIT_S)
        except queue.Empty:
            raise AssertionError(f"{what}: no reply in {WAIT_S} s") from None


def v1_over_mqtt311(transport):
    """Part (c): the V1 client subscribes to accepted/rejected, publishes, reads the callback."""
    thing = THING_V1
    client_id = transport.client_id(thing, "v1")
    conn = Mqtt311(transport, thing, client_id)
    passed(f"(c) MQTT 3.1.1 connect ({transport.label}) as {client_id}")
    qos = mqtt.QoS.AT_LEAST_ONCE
    try:
        jobs = iotjobs.IotJobsClient(conn.connection)
        replies = Replies()
        sub = iotjobs.StartNextPendingJobExecutionSubscriptionRequest(thing_name=thing)
        result(
            jobs.subscribe_to_start_next_pending_job_execution_accepted(sub, qos, replies.callback("accepted"))[0],
            "(c) subscribe start-next/accepted",
        )
        result(
            jobs.subscribe_to_start_next_pending_job_execution_rejected(sub, qos, replies.callback("rejected"))[0],
            "(c) subscribe start-next/rejected",
        )
        sub = iotjobs.UpdateJobExecutionSubscriptionRequest(thing_name=thing, job_id=JOB_V1)
        result(
            jobs.subscribe_to_update_job_execution_accepted(sub, qos, replies.callback("accepted"))[0],
            "(c) subscribe update/accepted",
        )
        result(
            jobs.subscribe_to_update_job_execution_rejected(sub, qos, replies.callback("rejected"))[0],
            "(c) subscribe update/rejected",
        )
        passed("(c) V1 subscribed to start-next and update accepted/rejected")

        details = {"step": "1"}
        result(
            jobs.publish_start_next_pending_job_execution(
                iotjobs.StartNextPendingJobExecutionRequest(
                    thing_name=thing, client_token="sdk-v1-start", step_timeout_in_minutes=5, status_details=details
                ),
                qos,
            ),
            "(c) publish start-next",
        )
        kind, reply = replies.next("(c) start-next")
        assert reply is not None, f"(c) start-next/{kind}: the SDK could not parse the payload"
        assert kind == "accepted", f"(c) start-next rejected: code={reply.code} message={reply.message}"
        assert isinstance(reply, iotjobs.StartNextJobExecutionResponse), f"start-next accepted as {reply!r}"
        assert reply.client_token == "sdk-v1-start", f"clientToken echoed as {reply.client_token!r}"
        e = reply.execution
        assert e is not None and e.job_id == JOB_V1 and e.status == "IN_PROGRESS", f"start-next: {e}"
        assert e.job_document == document(JOB_V1), f"jobDocument {e.job_document!r}"
        assert e.status_details == details, f"statusDetails {e.status_details}"
        assert_timestamp(reply.timestamp, "(c) start-next")
        passed("(c) V1 start-next accepted: clientToken echoed, IN_PROGRESS, jobDocument a dict")

        version = e.version_number
        result(
            jobs.publish_update_job_execution(
                iotjobs.UpdateJobExecutionRequest(
                    thing_name=thing,
                    job_id=JOB_V1,
                    client_token="sdk-v1-update",
                    status="SUCCEEDED",
                    expected_version=version,
                    include_job_execution_state=True,
                ),
                qos,
            ),
            "(c) publish update",
        )
        kind, reply = replies.next("(c) update")
        assert reply is not None, f"(c) update/{kind}: the SDK could not parse the payload"
        assert kind == "accepted", f"(c) update rejected: code={reply.code} message={reply.message}"
        assert reply.client_token == "sdk-v1-update", f"clientToken echoed as {reply.client_token!r}"
        state = reply.execution_state
        assert state is not None and state.status == "SUCCEEDED", f"executionState {state}"
        assert state.version_number == version + 1, f"executionState {state}"
        passed("(c) V1 update SUCCEEDED accepted with executionState")

        result(
            jobs.publish_update_job_execution(
                iotjobs.UpdateJobExecutionRequest(
                    thing_name=thing, job_id=JOB_V1, client_token="sdk-v1-again", status="IN_PROGRESS"
                ),
                qos,
            ),
            "(c) publish update after SUCCEEDED",
        )
        kind, reply = replies.next("(c) update after SUCCEEDED")
        assert reply is not None, f"(c) update/{kind}: the SDK could not parse the payload"
        assert kind == "rejected", f"(c) update after SUCCEEDED was accepted: {reply}"
        assert isinstance(reply, iotjobs.RejectedError), f"rejected as {reply!r}"
        assert reply.code == "InvalidStateTransition", f"code {reply.code!r}: {reply.message}"
        assert reply.client_token == "sdk-v1-again", f"clientToken echoed as {reply.client_token!r}"
        assert reply.execution_state is not None and reply.execution_state.status == "SUCCEEDED", (
            f"executionState {reply.execution_state}"
        )
        passed("(c) V1 update after SUCCEEDED rejected: InvalidStateTransition, clientToken echoed")
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------------
# (d) over TLS: a connection offering ALPN x-amzn-mqtt-ca


def alpn_over_mqtt311(transport):
    """Part (d): the ALPN AWS IoT's port 443 needs is accepted on the same listener."""
    assert io.is_alpn_available(), "awscrt reports no ALPN support on this platform"
    thing = THING_ALPN
    conn = Mqtt311(transport, thing, thing, alpn=[ALPN_MQTT_CA])
    passed(f"(d) MQTT 3.1.1 connect (mTLS, ALPN {ALPN_MQTT_CA}) as {thing}")
    try:
        jobs = v2_client(conn.connection)
        out = result(
            jobs.start_next_pending_job_execution(iotjobs.StartNextPendingJobExecutionRequest(thing_name=thing)),
            "(d) start_next_pending_job_execution",
        )
        e = out.execution
        assert e is not None and e.job_id == JOB_ALPN and e.status == "IN_PROGRESS", f"start-next: {e}"
        out = result(
            jobs.update_job_execution(
                iotjobs.UpdateJobExecutionRequest(
                    thing_name=thing,
                    job_id=JOB_ALPN,
                    status="SUCCEEDED",
                    expected_version=e.version_number,
                    include_job_execution_state=True,
                )
            ),
            "(d) update_job_execution SUCCEEDED",
        )
        assert out.execution_state is not None and out.execution_state.status == "SUCCEEDED", f"update: {out}"
        passed(f"(d) start-next and update SUCCEEDED over the {ALPN_MQTT_CA} connection")
    finally:
        conn.close()


def arguments():
    """The command line."""
    parser = argparse.ArgumentParser(description="The AWS IoT Device SDK v2 against jobcert serve.")
    parser.add_argument("host", help="the broker's host")
    parser.add_argument("port", type=int, help="the broker's port")
    parser.add_argument("control_url", help="the control plane's base URL")
    parser.add_argument("--tls", metavar="PKI_DIR", help="mTLS with this `jobcert pki` folder")
    return parser.parse_args()


def main():
    args = arguments()
    transport = Transport(args.host, args.port, args.tls)
    try:
        iot = control_plane(args.control_url, transport)
        seed(iot, transport)
        v2_over_mqtt5(transport, iot)
        v2_over_mqtt311(transport)
        v1_over_mqtt311(transport)
        if transport.tls:
            alpn_over_mqtt311(transport)
    except Exception:
        traceback.print_exc()
        print(f"not ok {checks + 1} - device sdk interop failed after {checks} checks", flush=True)
        sys.exit(1)
    print(f"device sdk interop: {checks} checks passed", flush=True)


if __name__ == "__main__":
    main()
