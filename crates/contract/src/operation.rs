//! The operations of the API and where their schemas are.

use std::sync::OnceLock;

use super::schemas::{Schema, SchemaError, schemas};

/// The two wire bindings of the device API.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Binding {
    /// REST-JSON over HTTPS.
    Http,
    /// JSON payloads on the reserved MQTT topics.
    Mqtt,
}

impl Binding {
    /// `http` or `mqtt`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Mqtt => "mqtt",
        }
    }
}

/// The four device operations of the data plane.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Operation {
    /// StartNextPendingJobExecution.
    StartNextPendingJobExecution,
    /// UpdateJobExecution.
    UpdateJobExecution,
    /// DescribeJobExecution.
    DescribeJobExecution,
    /// GetPendingJobExecutions.
    GetPendingJobExecutions,
}

impl Operation {
    /// All four, in catalogue order.
    pub const ALL: [Operation; 4] = [
        Self::StartNextPendingJobExecution,
        Self::UpdateJobExecution,
        Self::DescribeJobExecution,
        Self::GetPendingJobExecutions,
    ];

    /// The model's operation name.
    pub fn name(self) -> &'static str {
        match self {
            Self::StartNextPendingJobExecution => "StartNextPendingJobExecution",
            Self::UpdateJobExecution => "UpdateJobExecution",
            Self::DescribeJobExecution => "DescribeJobExecution",
            Self::GetPendingJobExecutions => "GetPendingJobExecutions",
        }
    }

    /// The operation with the model name `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|op| op.name() == name)
    }

    fn stem(self) -> &'static str {
        match self {
            Self::StartNextPendingJobExecution => "start-next-pending-job-execution",
            Self::UpdateJobExecution => "update-job-execution",
            Self::DescribeJobExecution => "describe-job-execution",
            Self::GetPendingJobExecutions => "get-pending-job-executions",
        }
    }

    /// The schema of the operation's input (HTTP binding).
    pub fn request_schema(self) -> Result<&'static Schema, SchemaError> {
        self.request_schema_for(Binding::Http)
    }

    /// The schema of the operation's input in `binding`.
    pub fn request_schema_for(self, binding: Binding) -> Result<&'static Schema, SchemaError> {
        self.found(binding, Side::Request)
    }

    /// The schema of the operation's 200 body (HTTP binding).
    pub fn response_schema(self) -> Result<&'static Schema, SchemaError> {
        self.response_schema_for(Binding::Http)
    }

    /// The schema of the operation's success in `binding` (HTTP 200 body, MQTT accepted payload).
    pub fn response_schema_for(self, binding: Binding) -> Result<&'static Schema, SchemaError> {
        self.found(binding, Side::Response)
    }

    /// The file of one of the operation's schemas, relative to `schemas/`.
    fn schema_path(self, binding: Binding, side: Side) -> String {
        match (side, binding) {
            (Side::Request, b) => format!("{}/{}.request.json", b.name(), self.stem()),
            (Side::Response, Binding::Http) => format!("http/{}.response.json", self.stem()),
            (Side::Response, Binding::Mqtt) => format!("mqtt/{}.accepted.json", self.stem()),
        }
    }

    /// One of the operation's schemas, looked up by name once per process: senders ask for
    /// them on every request and every answer.
    fn found(self, binding: Binding, side: Side) -> Result<&'static Schema, SchemaError> {
        type Found = [[[Option<&'static Schema>; 2]; 2]; Operation::ALL.len()];
        static FOUND: OnceLock<Found> = OnceLock::new();
        let found = FOUND.get_or_init(|| {
            Self::ALL.map(|op| {
                [Binding::Http, Binding::Mqtt].map(|b| {
                    [Side::Request, Side::Response]
                        .map(|s| schemas().get(&op.schema_path(b, s)).ok())
                })
            })
        });
        match found[self as usize][binding as usize][side as usize] {
            Some(schema) => Ok(schema),
            None => schemas().get(&self.schema_path(binding, side)),
        }
    }
}

/// Which of an operation's schemas: its input's or its success's.
#[derive(Debug, Clone, Copy)]
enum Side {
    Request,
    Response,
}

/// The control-plane operations used to seed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlOperation {
    /// CreateThing.
    CreateThing,
    /// CreateJob.
    CreateJob,
    /// DescribeJob.
    DescribeJob,
    /// CancelJob.
    CancelJob,
    /// DescribeJobExecution (control plane).
    DescribeJobExecution,
    /// CancelJobExecution.
    CancelJobExecution,
    /// DeleteThing.
    DeleteThing,
    /// CreateThingGroup.
    CreateThingGroup,
    /// AddThingToThingGroup.
    AddThingToThingGroup,
    /// RemoveThingFromThingGroup.
    RemoveThingFromThingGroup,
}

impl ControlOperation {
    /// All ten.
    pub const ALL: [ControlOperation; 10] = [
        Self::CreateThing,
        Self::CreateJob,
        Self::DescribeJob,
        Self::CancelJob,
        Self::DescribeJobExecution,
        Self::CancelJobExecution,
        Self::DeleteThing,
        Self::CreateThingGroup,
        Self::AddThingToThingGroup,
        Self::RemoveThingFromThingGroup,
    ];

    /// The model's operation name.
    pub fn name(self) -> &'static str {
        match self {
            Self::CreateThing => "CreateThing",
            Self::CreateJob => "CreateJob",
            Self::DescribeJob => "DescribeJob",
            Self::CancelJob => "CancelJob",
            Self::DescribeJobExecution => "DescribeJobExecution",
            Self::CancelJobExecution => "CancelJobExecution",
            Self::DeleteThing => "DeleteThing",
            Self::CreateThingGroup => "CreateThingGroup",
            Self::AddThingToThingGroup => "AddThingToThingGroup",
            Self::RemoveThingFromThingGroup => "RemoveThingFromThingGroup",
        }
    }

    /// The schema of the operation's input.
    pub fn request_schema(self) -> Result<&'static Schema, SchemaError> {
        let stem = match self {
            Self::CreateThing => "create-thing",
            Self::CreateJob => "create-job",
            Self::DescribeJob => "describe-job",
            Self::CancelJob => "cancel-job",
            Self::DescribeJobExecution => "describe-job-execution",
            Self::CancelJobExecution => "cancel-job-execution",
            Self::DeleteThing => "delete-thing",
            Self::CreateThingGroup => "create-thing-group",
            Self::AddThingToThingGroup => "add-thing-to-thing-group",
            Self::RemoveThingFromThingGroup => "remove-thing-from-thing-group",
        };
        schemas().get(&format!("control/{stem}.request.json"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_resolves_its_schemas_in_both_bindings() {
        for op in Operation::ALL {
            for binding in [Binding::Http, Binding::Mqtt] {
                let request = op.request_schema_for(binding).unwrap();
                let response = op.response_schema_for(binding).unwrap();
                assert!(request.path().starts_with(binding.name()), "{op:?}");
                assert!(response.path().starts_with(binding.name()), "{op:?}");
            }
            assert_eq!(
                op.request_schema().unwrap().path(),
                op.request_schema_for(Binding::Http).unwrap().path()
            );
            assert_eq!(Operation::from_name(op.name()), Some(op));
        }
    }

    #[test]
    fn every_control_operation_resolves_its_schema() {
        for op in ControlOperation::ALL {
            let schema = op.request_schema().unwrap();
            assert!(schema.path().starts_with("control/"), "{op:?}");
            assert!(schema.http_binding().is_some(), "{op:?}");
        }
    }
}
