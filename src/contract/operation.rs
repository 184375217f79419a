//! The operations of the API and where their schemas are.

use super::schemas::{Schema, SchemaError, schemas};

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
            Self::StartNextPendingJobExecution => "http/start-next-pending-job-execution",
            Self::UpdateJobExecution => "http/update-job-execution",
            Self::DescribeJobExecution => "http/describe-job-execution",
            Self::GetPendingJobExecutions => "http/get-pending-job-executions",
        }
    }

    /// The schema of the operation's input (HTTP binding).
    pub fn request_schema(self) -> Result<&'static Schema, SchemaError> {
        schemas().get(&format!("{}.request.json", self.stem()))
    }

    /// The schema of the operation's 200 body (HTTP binding).
    pub fn response_schema(self) -> Result<&'static Schema, SchemaError> {
        schemas().get(&format!("{}.response.json", self.stem()))
    }
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
}

impl ControlOperation {
    /// The model's operation name.
    pub fn name(self) -> &'static str {
        match self {
            Self::CreateThing => "CreateThing",
            Self::CreateJob => "CreateJob",
            Self::DescribeJob => "DescribeJob",
            Self::CancelJob => "CancelJob",
            Self::DescribeJobExecution => "DescribeJobExecution",
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
        };
        schemas().get(&format!("control/{stem}.request.json"))
    }
}
