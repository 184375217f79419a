//! Device identity and the AWS-like policy option (`jobcert serve --policy`, `--aws-like`).
//!
//! A device that connects with a client certificate speaks for the thing its certificate names
//! (the subject's common name, where `jobcert pki issue` puts it; at AWS IoT, the thing the
//! certificate is attached to). Under `own-thing` it may act on that thing only, the policy
//! AWS's samples attach (`${iot:Connection.Thing.ThingName}`); `own-thing-all` holds every MQTT
//! connection to it, one without a certificate (plain TCP, WebSockets) speaking for the thing
//! its client id names, as the samples' `client/${iot:ClientId}` and
//! `$aws/things/${iot:ClientId}/jobs/*` do. A limited connection:
//! - MQTT: with a certificate, the client id must be the thing name, or the CONNECT is refused
//!   "not authorised"; a subscription that can reach another thing's topics (another thing's
//!   name, or a wildcard where the thing's name or a level above it stands: `+`, `#`,
//!   `$aws/things/#`) is refused in the SUBACK, as AWS IoT refuses a filter its policy does
//!   not grant (a policy reads `+` and `#` literally, so a thing-scoped one grants none of
//!   these); publishing to another thing's Jobs topics closes the connection, as AWS IoT does.
//!   Notifications and replies then reach the thing's own client only.
//! - HTTP on the mTLS plane: a request about another thing is answered 403 ForbiddenException.
//!
//! Plain HTTP is not limited: IAM policies are not modelled.

use std::str::FromStr;

/// The policy devices are held to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Policy {
    /// Any device may act on any thing.
    #[default]
    Open,
    /// A device with a certificate may act only on the thing its certificate names.
    OwnThing,
    /// As `OwnThing`, and an MQTT connection without a certificate only on the thing its
    /// client id names.
    OwnThingAll,
}

impl FromStr for Policy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "open" => Ok(Self::Open),
            "own-thing" => Ok(Self::OwnThing),
            "own-thing-all" => Ok(Self::OwnThingAll),
            other => Err(format!(
                "{other:?} is not a policy: open, own-thing or own-thing-all"
            )),
        }
    }
}

/// What a connection may do: the policy, and the thing it speaks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Principal {
    policy: Policy,
    /// The certificate's thing, or under `OwnThingAll` the MQTT client id's once connected;
    /// `None` before, and without a certificate (or without a name in it) otherwise.
    thing: Option<String>,
}

impl Principal {
    /// A connection held to `policy`, authenticated as `thing` when it is known.
    pub fn new(policy: Policy, thing: Option<String>) -> Self {
        Self { policy, thing }
    }

    /// The thing the connection speaks for, if it is known.
    pub fn thing(&self) -> Option<&str> {
        self.thing.as_deref()
    }

    /// The principal of the MQTT session the connection opened as `client_id`: under
    /// `OwnThingAll`, a connection whose certificate names no thing speaks for the client id's.
    pub fn connected_as(self, client_id: &str) -> Self {
        match (self.policy, &self.thing) {
            (Policy::OwnThingAll, None) => Self {
                thing: Some(client_id.to_string()),
                ..self
            },
            _ => self,
        }
    }

    /// The thing the policy limits this connection to.
    fn limited_to(&self) -> Option<&str> {
        match self.policy {
            Policy::Open => None,
            Policy::OwnThing | Policy::OwnThingAll => self.thing.as_deref(),
        }
    }

    /// Whether an MQTT client may connect with `client_id`.
    pub fn may_connect_as(&self, client_id: &str) -> bool {
        self.limited_to().is_none_or(|own| own == client_id)
    }

    /// Whether the connection may act on `thing`.
    pub fn may_act_on(&self, thing: &str) -> bool {
        self.limited_to().is_none_or(|own| own == thing)
    }

    /// Whether the connection may subscribe to `filter`: a filter that can reach another
    /// thing's topics is refused — one naming another thing, or with a wildcard at or above
    /// the thing's level of `$aws/things/{thing}/…` (a policy grants filters literally, so a
    /// thing-scoped one grants no `#` or `+/…`, even where MQTT §4.7.2 keeps `$` topics from
    /// a leading wildcard).
    pub fn may_subscribe(&self, filter: &str) -> bool {
        let Some(own) = self.limited_to() else {
            return true;
        };
        let mut levels = filter.split('/');
        for (depth, wanted) in ["$aws", "things", own].into_iter().enumerate() {
            match levels.next() {
                None => return true,
                Some("+" | "#") => return false,
                Some(level) if level == wanted => {}
                // Above the thing's level: not a thing's topic; at it: another thing's.
                Some(_) => return depth < 2,
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own(thing: &str) -> Principal {
        Principal::new(Policy::OwnThing, Some(thing.to_string()))
    }

    #[test]
    fn under_own_thing_a_device_acts_only_on_its_thing() {
        for (principal, client_or_thing, allowed) in [
            (own("t1"), "t1", true),
            (own("t1"), "t2", false),
            (own("t1"), "", false),
            (Principal::new(Policy::Open, Some("t1".into())), "t2", true),
            (Principal::new(Policy::OwnThing, None), "t2", true),
            (
                Principal::new(Policy::OwnThingAll, Some("t1".into())),
                "t2",
                false,
            ),
        ] {
            assert_eq!(principal.may_connect_as(client_or_thing), allowed);
            assert_eq!(principal.may_act_on(client_or_thing), allowed);
        }
    }

    #[test]
    fn the_client_id_names_the_thing_only_under_own_thing_all_and_without_a_certificate() {
        for (policy, certificate, limited_to) in [
            (Policy::Open, None, None),
            (Policy::OwnThing, None, None),
            (Policy::OwnThing, Some("t1"), Some("t1")),
            (Policy::OwnThingAll, None, Some("c1")),
            (Policy::OwnThingAll, Some("t1"), Some("t1")),
        ] {
            let before = Principal::new(policy, certificate.map(str::to_string));
            // Any client id may connect without a certificate; it then names the thing.
            assert_eq!(before.may_connect_as("c1"), certificate.is_none());
            let after = before.connected_as("c1");
            assert_eq!(after.limited_to(), limited_to, "{policy:?} {certificate:?}");
            assert_eq!(after.may_act_on("t2"), limited_to.is_none());
            assert_eq!(
                after.may_subscribe("$aws/things/+/jobs/#"),
                limited_to.is_none()
            );
        }
    }

    #[test]
    fn subscriptions_reach_other_things_only_when_open() {
        for (filter, allowed) in [
            ("$aws/things/t1/jobs/#", true),
            ("$aws/things/t1/jobs/notify-next", true),
            ("$aws/things/t1/jobs/+/get/accepted", true),
            ("$aws/things/t1", true),
            ("$aws/things/t2/jobs/#", false),
            ("$aws/things/t10/jobs/#", false),
            ("$aws/things/+/jobs/#", false),
            ("$aws/things/+", false),
            ("$aws/things/#", false),
            ("$aws/things", true),
            ("$aws/#", false),
            ("$aws/+/t1/jobs/#", false),
            ("#", false),
            ("+/things/t2/jobs", false),
            ("+", false),
            ("sensors/t2/temperature", true),
            ("sensors/+/temperature", true),
            ("sensors/#", true),
            ("$aws/rules/r1", true),
        ] {
            for principal in [
                own("t1"),
                Principal::new(Policy::OwnThingAll, None).connected_as("t1"),
            ] {
                assert_eq!(principal.may_subscribe(filter), allowed, "{filter}");
            }
            assert!(
                Principal::new(Policy::Open, Some("t1".into())).may_subscribe(filter),
                "{filter}"
            );
            assert!(
                Principal::new(Policy::OwnThing, None)
                    .connected_as("t1")
                    .may_subscribe(filter),
                "{filter}"
            );
        }
    }

    #[test]
    fn policies_are_named_open_own_thing_and_own_thing_all() {
        assert_eq!("open".parse(), Ok(Policy::Open));
        assert_eq!("own-thing".parse(), Ok(Policy::OwnThing));
        assert_eq!("own-thing-all".parse(), Ok(Policy::OwnThingAll));
        assert!("thing".parse::<Policy>().is_err());
    }
}
