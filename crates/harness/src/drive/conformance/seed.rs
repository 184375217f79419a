//! A case's control-plane calls: the things and jobs it starts from, and the cancellations its
//! steps ask for. Every call's exchange is kept with the case.

use std::collections::BTreeMap;

use crate::check::oracle::JobFacts;
use crate::finding::Finding;
use crate::plan::JobFixture;
use crate::transport::control::Seeding;
use crate::transport::target::ThingArn;
use crate::transport::{Call, Called, ControlError, Exchange, NewJob};

use super::case::CaseRun;

impl CaseRun<'_> {
    /// Keeps the call's exchange; the exchange and what the call returned, or why it did not
    /// succeed.
    fn kept<T>(&mut self, call: Call<T>) -> Result<(Exchange, T), ControlError> {
        let Called { exchange, result } = call?;
        self.exchanges.push(exchange.clone());
        Ok((exchange, result?))
    }

    /// Creates the case's things, connects their devices (MQTT) and creates its jobs; `Err`
    /// says why the case cannot go on.
    pub(super) async fn setup(&mut self) -> Result<(), String> {
        let case = self.case;
        // Logical thing name → the ARN its jobs target.
        let mut arns = BTreeMap::new();
        for logical in &case.things {
            let real = self.things[logical].clone();
            let called = self
                .control
                .create_thing(self.next_seq(), &self.case.id, &real)
                .await;
            let (_, returned) = self
                .kept(called)
                .map_err(|e| e.explain(Seeding::CreateThing(&real), self.target))?;
            arns.insert(logical.clone(), self.target.job_target(&real, returned));
            self.oracle.thing_created(logical, &real);
        }
        for logical in &case.absent_things {
            self.oracle.thing_absent(logical);
        }
        // Devices listen before any job exists, so they hear every notification.
        for logical in &case.things {
            let real = &self.things[logical];
            let deadline = self.settings.deadline;
            if let Some(opened) = self.client.open(real, deadline).await {
                opened?;
            }
        }
        for job in &case.jobs {
            self.create_job(job, &arns).await?;
        }
        Ok(())
    }

    /// Creates `job`, targeting its things at `arns` (by logical name).
    async fn create_job(
        &mut self,
        job: &JobFixture,
        arns: &BTreeMap<String, ThingArn>,
    ) -> Result<(), String> {
        let real_id = self.jobs[&job.id].clone();
        let targets: Vec<ThingArn> = job
            .targets
            .iter()
            .map(|t| {
                arns.get(t)
                    .cloned()
                    .unwrap_or_else(|| self.target.job_target(&self.things[t], None))
            })
            .collect();
        let new = NewJob {
            id: real_id.clone(),
            targets: targets.iter().map(|t| t.arn.clone()).collect(),
            document: job.document.clone(),
            in_progress_timeout_minutes: job.in_progress_timeout_minutes,
            retry: job
                .retry
                .iter()
                .map(|r| (r.failure_type.clone(), r.number_of_retries))
                .collect(),
        };
        let called = self
            .control
            .create_job(self.next_seq(), &self.case.id, &new)
            .await;
        let (exchange, _) = self
            .kept(called)
            .map_err(|e| e.explain(Seeding::CreateJob(&real_id, &targets), self.target))?;
        self.created.push(new.id.clone());
        let window = self.window(&exchange);
        self.oracle.job_created(
            JobFacts {
                id: job.id.clone(),
                real_id,
                document: job.document.clone(),
                in_progress_minutes: job.in_progress_timeout_minutes,
                retry: new.retry,
            },
            &job.targets,
            window,
        );
        Ok(())
    }

    /// Cancels (with force) the jobs created for the case once it is over, so that a run holds
    /// no more jobs in progress than it runs cases at once: a target holds an account to a
    /// bound on active jobs (AWS's active-jobs limit), which a whole suite would pass. The case
    /// has been judged, so the answers are neither kept nor judged: a job the case completed
    /// or canceled already may well be refused.
    pub(super) async fn retire_jobs(&mut self) {
        for id in std::mem::take(&mut self.created) {
            let seq = self.next_seq();
            let _ = self.control.cancel_job(seq, &self.case.id, &id, true).await;
        }
    }

    /// Cancels the case's job `job`; a refusal is a failed check of the case.
    pub(super) async fn cancel_job(&mut self, job: &str, force: bool) {
        let called = self
            .control
            .cancel_job(self.next_seq(), &self.case.id, &self.jobs[job], force)
            .await;
        match self.kept(called) {
            Ok((exchange, _)) => {
                let window = self.window(&exchange);
                self.oracle.job_canceled(job, force, window);
            }
            Err(e) => self.findings.push(Finding::fail(
                self.primary_requirement(),
                format!("CancelJob was refused: {e}"),
                None,
            )),
        }
    }
}
