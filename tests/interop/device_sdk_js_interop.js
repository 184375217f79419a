// Wire-compatibility check of `jobcert serve --mqtts` against the AWS IoT Device SDK v2 for
// JavaScript (`aws-iot-device-sdk-v2`, on the AWS Common Runtime `aws-crt`), over mTLS.
//
// Usage: node device_sdk_js_interop.js MQTTS_HOST MQTTS_PORT CONTROL_PLANE_URL PKI_DIR
//
// PKI_DIR is a `jobcert pki` folder holding ca.pem (which signed the server's certificate) and
// the device certificates js-thing-1.pem/.key and js-thing-2.pem/.key. Things and jobs are
// created through the control plane (`https://`, trusting ca.pem) while the devices listen;
// every connection comes from the SDK's own mTLS builders with the CA given by path and the
// thing name as client id (what `--policy own-thing` demands):
//
//   (a) MQTT 3.1.1 from `AwsIotMqttConnectionConfigBuilder.new_mtls_builder_from_path` and the
//       V1 `IotJobsClient`: subscribe to notify-next and to start-next and update
//       accepted/rejected, publish start-next and update to SUCCEEDED, read every reply;
//   (b) MQTT 5 from `AwsIotMqtt5ClientConfigBuilder.newDirectMqttBuilderWithMtlsFromPath` and
//       the V2 request-response `IotJobsClientv2` with its notify-next stream.
//
// Every wait is bounded. Prints one line per check and exits non-zero on the first failure;
// the last line is `device sdk js interop: N checks passed`.

"use strict";

const fs = require("fs");
const https = require("https");
const path = require("path");
const { isDeepStrictEqual } = require("util");
const { iot, iotjobs, mqtt, mqtt5 } = require("aws-iot-device-sdk-v2");
// The SDK's own runtime, whose types its API takes and gives (installed with it).
const { SubscriptionStatusEventType } = require("aws-crt").mqtt_request_response;

const REGION = "us-east-1";
const ACCOUNT = "123456789012";
// How long any single wait may take (connect, subscribe, a reply, an event), in ms.
const WAIT_MS = 10000;
// How far a reply's `timestamp` (epoch seconds, spec §1.3) may be from this machine's clock.
const CLOCK_SLACK_S = 120;
// The SUBACK return code of a refused subscription (MQTT 3.1.1 §3.9.3).
const SUBACK_FAILURE = 0x80;

const THING_V1 = "js-thing-1";
const THING_V2 = "js-thing-2";
const JOB_V1 = "js-job-1";
const JOB_V2 = "js-job-2";

let checks = 0;

/** Records and prints one passed check. */
function passed(what) {
  checks += 1;
  console.log(`ok ${String(checks).padStart(2)} - ${what}`);
}

/** Throws `what` unless `condition` holds. */
function check(condition, what) {
  if (!condition) {
    throw new Error(what);
  }
}

/** `promise`, or a failure naming `what` after WAIT_MS. */
function within(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${WAIT_MS} ms`)), WAIT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The ARN the server names `thing` by. */
function thingArn(thing) {
  return `arn:aws:iot:${REGION}:${ACCOUNT}:thing/${thing}`;
}

/** The job document of `jobId` (MQTT carries it as a JSON object, spec §3.5). */
function documentOf(jobId) {
  return { operation: "install", job: jobId };
}

/** `value` is a reply timestamp: epoch seconds close to this machine's clock. */
function assertTimestamp(value, what) {
  check(typeof value === "number", `${what}: timestamp ${JSON.stringify(value)} is not a number`);
  const skew = Math.abs(value - Date.now() / 1000);
  check(skew <= CLOCK_SLACK_S, `${what}: timestamp ${value} is ${skew.toFixed(0)} s from now`);
}

/** Items pushed by SDK callbacks, taken in arrival order with a bounded wait. */
class Inbox {
  constructor() {
    this.items = [];
    this.waiting = [];
  }

  push(item) {
    const waiter = this.waiting.shift();
    if (waiter) {
      waiter(item);
    } else {
      this.items.push(item);
    }
  }

  next(what) {
    if (this.items.length > 0) {
      return Promise.resolve(this.items.shift());
    }
    return within(new Promise((resolve) => this.waiting.push(resolve)), what);
  }

  /** Fails if anything arrived that was not taken. */
  assertEmpty(what) {
    check(this.items.length === 0, `${what}: unexpected extra items ${JSON.stringify(this.items)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Control plane over https, trusting the PKI's CA

/** One control-plane request; resolves with the parsed JSON answer of a 200. */
function control(baseUrl, ca, method, route, body) {
  const url = new URL(route, baseUrl);
  const payload = JSON.stringify(body);
  return within(
    new Promise((resolve, reject) => {
      const request = https.request(
        url,
        { method, ca, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(payload) } },
        (response) => {
          let text = "";
          response.setEncoding("utf8");
          response.on("data", (chunk) => (text += chunk));
          response.on("end", () => {
            if (response.statusCode === 200) {
              resolve(JSON.parse(text));
            } else {
              reject(new Error(`${method} ${route}: HTTP ${response.statusCode} ${text}`));
            }
          });
        },
      );
      request.on("error", reject);
      request.end(payload);
    }),
    `${method} ${route}`,
  );
}

async function createThing(plane, thing) {
  const out = await control(plane.url, plane.ca, "POST", `/things/${thing}`, {});
  check(out.thingArn === thingArn(thing), `CreateThing ${thing}: ${JSON.stringify(out)}`);
}

async function createJob(plane, jobId, thing) {
  const body = { targets: [thingArn(thing)], document: JSON.stringify(documentOf(jobId)) };
  const out = await control(plane.url, plane.ca, "PUT", `/jobs/${jobId}`, body);
  check(out.jobId === jobId, `CreateJob ${jobId}: ${JSON.stringify(out)}`);
}

// ---------------------------------------------------------------------------------------------
// (a) MQTT 3.1.1 from new_mtls_builder_from_path, the V1 IotJobsClient

async function v1OverMqtt311(target, plane) {
  const thing = THING_V1;
  const files = target.files(thing);
  const config = iot.AwsIotMqttConnectionConfigBuilder.new_mtls_builder_from_path(files.cert, files.key)
    .with_certificate_authority_from_path(undefined, files.ca)
    .with_endpoint(target.host)
    .with_port(target.port)
    .with_client_id(thing)
    .with_clean_session(true)
    .with_keep_alive_seconds(30)
    .build();
  const connection = new mqtt.MqttClient().new_connection(config);
  await within(connection.connect(), `(a) MQTT 3.1.1 connect as ${thing}`);
  passed(`(a) MQTT 3.1.1 connect (mTLS, new_mtls_builder_from_path) as ${thing}`);
  try {
    const jobs = new iotjobs.IotJobsClient(connection);
    const qos = mqtt.QoS.AtLeastOnce;
    const notify = new Inbox();
    const replies = new Inbox();
    const into = (inbox, kind) => (error, response) => inbox.push({ kind, error, response });
    const subscriptions = [
      jobs.subscribeToNextJobExecutionChangedEvents({ thingName: thing }, qos, into(notify, "notify-next")),
      jobs.subscribeToStartNextPendingJobExecutionAccepted({ thingName: thing }, qos, into(replies, "accepted")),
      jobs.subscribeToStartNextPendingJobExecutionRejected({ thingName: thing }, qos, into(replies, "rejected")),
      jobs.subscribeToUpdateJobExecutionAccepted({ thingName: thing, jobId: JOB_V1 }, qos, into(replies, "accepted")),
      jobs.subscribeToUpdateJobExecutionRejected({ thingName: thing, jobId: JOB_V1 }, qos, into(replies, "rejected")),
    ];
    for (const subscription of await within(Promise.all(subscriptions), "(a) subscribe")) {
      check(!subscription.error_code && subscription.qos !== SUBACK_FAILURE, `(a) SUBACK ${JSON.stringify(subscription)}`);
    }
    passed("(a) V1 subscribed to notify-next, start-next and update accepted/rejected");

    await createJob(plane, JOB_V1, thing);
    let event = await notify.next("(a) notify-next after CreateJob");
    check(!event.error, `(a) notify-next: ${event.error}`);
    let e = event.response.execution;
    check(e && e.jobId === JOB_V1 && e.status === "QUEUED", `(a) notify-next execution ${JSON.stringify(e)}`);
    check(isDeepStrictEqual(e.jobDocument, documentOf(JOB_V1)), `(a) notify-next jobDocument ${JSON.stringify(e.jobDocument)}`);
    assertTimestamp(event.response.timestamp, "(a) notify-next");
    passed("(a) notify-next on CreateJob: the new head, QUEUED, jobDocument a JSON object");

    await within(
      jobs.publishStartNextPendingJobExecution({ thingName: thing, clientToken: "js-v1-start", statusDetails: { step: "1" } }, qos),
      "(a) publish start-next",
    );
    let reply = await replies.next("(a) start-next reply");
    check(!reply.error, `(a) start-next: ${reply.error}`);
    check(reply.kind === "accepted", `(a) start-next ${reply.kind}: ${JSON.stringify(reply.response)}`);
    check(reply.response.clientToken === "js-v1-start", `(a) clientToken echoed as ${reply.response.clientToken}`);
    e = reply.response.execution;
    check(e && e.jobId === JOB_V1 && e.status === "IN_PROGRESS", `(a) start-next execution ${JSON.stringify(e)}`);
    check(e.statusDetails && e.statusDetails.step === "1", `(a) statusDetails ${JSON.stringify(e.statusDetails)}`);
    assertTimestamp(reply.response.timestamp, "(a) start-next");
    passed("(a) V1 start-next accepted: clientToken echoed, IN_PROGRESS, statusDetails kept");

    const version = e.versionNumber;
    await within(
      jobs.publishUpdateJobExecution(
        {
          thingName: thing,
          jobId: JOB_V1,
          clientToken: "js-v1-update",
          status: "SUCCEEDED",
          expectedVersion: version,
          includeJobExecutionState: true,
        },
        qos,
      ),
      "(a) publish update",
    );
    reply = await replies.next("(a) update reply");
    check(!reply.error, `(a) update: ${reply.error}`);
    check(reply.kind === "accepted", `(a) update ${reply.kind}: ${JSON.stringify(reply.response)}`);
    check(reply.response.clientToken === "js-v1-update", `(a) clientToken echoed as ${reply.response.clientToken}`);
    const state = reply.response.executionState;
    check(state && state.status === "SUCCEEDED" && state.versionNumber === version + 1, `(a) executionState ${JSON.stringify(state)}`);
    passed("(a) V1 update SUCCEEDED accepted with executionState");

    event = await notify.next("(a) notify-next after SUCCEEDED");
    check(!event.error, `(a) notify-next: ${event.error}`);
    check(event.response.execution === undefined, `(a) notify-next on an empty queue: ${JSON.stringify(event.response)}`);
    notify.assertEmpty("(a) notify-next");
    replies.assertEmpty("(a) replies");
    passed("(a) notify-next without an execution once nothing is pending");
  } finally {
    await within(connection.disconnect(), "(a) disconnect");
  }
}

// ---------------------------------------------------------------------------------------------
// (b) MQTT 5 from newDirectMqttBuilderWithMtlsFromPath, IotJobsClientv2

async function v2OverMqtt5(target, plane) {
  const thing = THING_V2;
  const files = target.files(thing);
  const config = iot.AwsIotMqtt5ClientConfigBuilder.newDirectMqttBuilderWithMtlsFromPath(target.host, files.cert, files.key)
    .withCertificateAuthorityFromPath(undefined, files.ca)
    .withPort(target.port)
    .withConnectProperties({ clientId: thing, keepAliveIntervalSeconds: 30 })
    .build();
  const client = new mqtt5.Mqtt5Client(config);
  const connected = new Promise((resolve, reject) => {
    client.on("connectionSuccess", resolve);
    client.on("connectionFailure", (event) => reject(new Error(`connection failure: ${event.error}`)));
  });
  const stopped = new Promise((resolve) => client.on("stopped", resolve));
  client.start();
  try {
    await within(connected, `(b) MQTT 5 connect as ${thing}`);
    passed(`(b) MQTT 5 connect (mTLS, newDirectMqttBuilderWithMtlsFromPath) as ${thing}`);
    const jobs = iotjobs.IotJobsClientv2.newFromMqtt5(client, {
      maxRequestResponseSubscriptions: 4,
      maxStreamingSubscriptions: 2,
      operationTimeoutInSeconds: WAIT_MS / 1000,
    });
    try {
      await v2Workflow(jobs, thing, plane);
    } finally {
      jobs.close();
    }
  } finally {
    client.stop();
    await within(stopped, "(b) stop");
    client.close();
  }
}

async function v2Workflow(jobs, thing, plane) {
  const events = new Inbox();
  const established = new Promise((resolve) => {
    const stream = jobs.createNextJobExecutionChangedStream({ thingName: thing });
    stream.on("subscriptionStatus", (event) => {
      if (event.type === SubscriptionStatusEventType.SubscriptionEstablished) {
        resolve();
      }
    });
    stream.on("incomingPublish", (event) => events.push(event.message));
    stream.on("incomingPublishError", (event) => events.push({ undeserializable: Buffer.from(event.payload).toString() }));
    stream.open();
  });
  await within(established, "(b) notify-next stream subscribed");
  passed("(b) notify-next stream subscribed (SubscriptionEstablished)");

  await createJob(plane, JOB_V2, thing);
  let event = await events.next("(b) notify-next after CreateJob");
  let e = event.execution;
  check(e && e.jobId === JOB_V2 && e.status === "QUEUED", `(b) notify-next ${JSON.stringify(event)}`);
  check(isDeepStrictEqual(e.jobDocument, documentOf(JOB_V2)), `(b) notify-next jobDocument ${JSON.stringify(e.jobDocument)}`);
  passed("(b) notify-next event on CreateJob: the new head, QUEUED, jobDocument a JSON object");

  const started = await within(jobs.startNextPendingJobExecution({ thingName: thing, stepTimeoutInMinutes: 30 }), "(b) start-next");
  e = started.execution;
  check(e && e.jobId === JOB_V2 && e.status === "IN_PROGRESS", `(b) start-next ${JSON.stringify(started)}`);
  check(isDeepStrictEqual(e.jobDocument, documentOf(JOB_V2)), `(b) start-next jobDocument ${JSON.stringify(e.jobDocument)}`);
  assertTimestamp(started.timestamp, "(b) start-next");
  passed("(b) startNextPendingJobExecution: IN_PROGRESS, jobDocument a JSON object");

  const version = e.versionNumber;
  const updated = await within(
    jobs.updateJobExecution({
      thingName: thing,
      jobId: JOB_V2,
      status: "SUCCEEDED",
      expectedVersion: version,
      includeJobExecutionState: true,
    }),
    "(b) update",
  );
  const state = updated.executionState;
  check(state && state.status === "SUCCEEDED" && state.versionNumber === version + 1, `(b) update ${JSON.stringify(updated)}`);
  passed("(b) updateJobExecution SUCCEEDED with expectedVersion: executionState SUCCEEDED");

  event = await events.next("(b) notify-next after SUCCEEDED");
  check(event.execution === undefined && !event.undeserializable, `(b) notify-next on an empty queue: ${JSON.stringify(event)}`);
  events.assertEmpty("(b) notify-next");
  passed("(b) notify-next without an execution once nothing is pending");

  let refusal;
  try {
    refusal = await within(jobs.updateJobExecution({ thingName: thing, jobId: JOB_V2, status: "IN_PROGRESS" }), "(b) update after SUCCEEDED");
  } catch (error) {
    refusal = error;
  }
  const modeled = refusal && refusal.modeledError;
  check(modeled && modeled.code === "InvalidStateTransition", `(b) update after SUCCEEDED: ${refusal}`);
  check(modeled.executionState && modeled.executionState.status === "SUCCEEDED", `(b) rejection ${JSON.stringify(modeled)}`);
  passed("(b) update after SUCCEEDED -> ServiceError, modeled InvalidStateTransition");
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const [host, port, controlUrl, pkiDir] = process.argv.slice(2);
  if (!pkiDir) {
    console.error("usage: node device_sdk_js_interop.js MQTTS_HOST MQTTS_PORT CONTROL_PLANE_URL PKI_DIR");
    process.exit(2);
  }
  const ca = path.join(pkiDir, "ca.pem");
  const target = {
    host,
    port: Number(port),
    files: (thing) => ({ cert: path.join(pkiDir, `${thing}.pem`), key: path.join(pkiDir, `${thing}.key`), ca }),
  };
  const plane = { url: controlUrl, ca: fs.readFileSync(ca) };
  check(controlUrl.startsWith("https://"), `the control plane ${controlUrl} is not https://`);
  try {
    for (const thing of [THING_V1, THING_V2]) {
      await createThing(plane, thing);
    }
    passed(`control plane (https, trusting ca.pem): CreateThing ${THING_V1} and ${THING_V2}`);
    await v1OverMqtt311(target, plane);
    await v2OverMqtt5(target, plane);
  } catch (error) {
    console.error(error && error.stack ? error.stack : error);
    console.log(`not ok ${checks + 1} - device sdk js interop failed after ${checks} checks`);
    process.exit(1);
  }
  console.log(`device sdk js interop: ${checks} checks passed`);
  process.exit(0);
}

main();
