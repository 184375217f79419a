//! Device identity and the AWS-like policy option (`jobcert serve --policy own-thing`).
//!
//! A device that connects with a client certificate speaks for the thing its certificate names
//! (the subject's common name, where `jobcert pki issue` puts it; at AWS IoT, the thing the
//! certificate is attached to). Under `own-thing` it may act on that thing only, the policy
//! AWS's samples attach (`${iot:Connection.Thing.ThingName}`):
//! - MQTT: the client id must be the thing name, or the CONNECT is refused "not authorised";
//!   subscribing to another thing's topics (or to every thing's, `+`) is refused in the
//!   SUBACK; publishing to another thing's Jobs topics closes the connection, as AWS IoT does.
//! - HTTP on the mTLS plane: a request about another thing is answered 403 ForbiddenException.
//!
//! A connection without a certificate (plain TCP, or WebSockets whose identity is the signing
//! access key) is not limited: IAM policies are not modelled.

use std::str::FromStr;

/// The policy every certificate-authenticated device is held to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Policy {
    /// Any device may act on any thing.
    #[default]
    Open,
    /// A device may act only on the thing its certificate names.
    OwnThing,
}

impl FromStr for Policy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "open" => Ok(Self::Open),
            "own-thing" => Ok(Self::OwnThing),
            other => Err(format!("{other:?} is not a policy: open or own-thing")),
        }
    }
}

/// What a connection may do: the policy, and the thing its certificate names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Principal {
    policy: Policy,
    /// The certificate's thing; `None` without a certificate (or without a name in it).
    thing: Option<String>,
}

impl Principal {
    /// A connection held to `policy`, authenticated as `thing` when it is known.
    pub fn new(policy: Policy, thing: Option<String>) -> Self {
        Self { policy, thing }
    }

    /// The thing the connection speaks for, if it presented a certificate naming one.
    pub fn thing(&self) -> Option<&str> {
        self.thing.as_deref()
    }

    /// The certificate's thing when the policy limits this connection to it.
    fn limited_to(&self) -> Option<&str> {
        match self.policy {
            Policy::Open => None,
            Policy::OwnThing => self.thing.as_deref(),
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

    /// Whether the connection may subscribe to `filter`: only a filter that can match
    /// another thing's topics is refused (a `+` or `#` in the thing's place reaches every
    /// thing; a leading wildcard matches no `$` topic, MQTT §4.7.2).
    pub fn may_subscribe(&self, filter: &str) -> bool {
        let Some(own) = self.limited_to() else {
            return true;
        };
        let mut levels = filter.split('/');
        match (levels.next(), levels.next(), levels.next()) {
            (Some("$aws"), Some("things"), Some(thing)) => thing == own,
            (Some("$aws"), Some("+" | "#"), _) => false,
            _ => true,
        }
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
        ] {
            assert_eq!(principal.may_connect_as(client_or_thing), allowed);
            assert_eq!(principal.may_act_on(client_or_thing), allowed);
        }
    }

    #[test]
    fn subscriptions_reach_other_things_only_when_open() {
        for (filter, allowed) in [
            ("$aws/things/t1/jobs/#", true),
            ("$aws/things/t1/jobs/notify-next", true),
            ("$aws/things/t2/jobs/#", false),
            ("$aws/things/+/jobs/#", false),
            ("$aws/things/#", false),
            ("$aws/things", true),
            ("$aws/#", false),
            ("$aws/+/t1/jobs/#", false),
            ("#", true),
            ("+/things/t2/jobs", true),
            ("sensors/t2/temperature", true),
            ("$aws/rules/r1", true),
        ] {
            assert_eq!(own("t1").may_subscribe(filter), allowed, "{filter}");
            assert!(
                Principal::new(Policy::Open, Some("t1".into())).may_subscribe(filter),
                "{filter}"
            );
        }
    }

    #[test]
    fn policies_are_named_open_and_own_thing() {
        assert_eq!("open".parse(), Ok(Policy::Open));
        assert_eq!("own-thing".parse(), Ok(Policy::OwnThing));
        assert!("thing".parse::<Policy>().is_err());
    }
}
