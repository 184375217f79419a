//! The contract as data: the files of `schemas/`, embedded in the binary and typed here.
//!
//! The harness and the reference server share this module and nothing else. Constraints,
//! error statuses and state-machine facts live in the JSON files; this module only loads them.

mod errors;
mod execution_model;
mod limits;
mod operation;
mod outcomes;
mod requirements;
mod schemas;
mod whole;

pub use errors::{
    ErrorKind, ErrorTable, ErrorType, MqttOnly, MqttOnlyCode, error_status, errors, mqtt_code,
    type_for_mqtt_code,
};
pub use execution_model::{ExecutionModel, Status, execution_model};
pub use limits::{
    AwsFigure, BucketLimit, Enforced, EnforcedBy, Limits, LimitsError, Past, Per, Plane, Scope,
    Source, StateError, StateLimit, Unit, aws_path,
};
pub use operation::{Binding, ControlOperation, Operation};
pub use outcomes::{Alternatives, Outcome, OutcomeTable, SchemaCause, StatusSpec, outcomes};
pub use requirements::{
    Catalogue, Level, Requirement, RequirementId, UnknownRequirement, catalogue, req,
};
pub use schemas::{Schema, SchemaError, SchemaSet, Violation, file, files, schemas};
pub use whole::whole_number;

/// The job id that selects the next pending execution (DescribeJobExecution, and the
/// StartNextPendingJobExecution route), as `schemas/common.json` `DescribeJobId` admits it.
pub const NEXT_EXECUTION: &str = "$next";
