//! This module says why a signed payload was kept instead of applied. Each reason has one
//! stable name, the same in the webhook's answer, the quarantine record, its metric and the
//! audit trail.

/// Says why a signed payload was kept (or sent back) instead of applied.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, strum::Display, strum::EnumString, strum::IntoStaticStr,
)]
#[strum(serialize_all = "snake_case")]
pub enum QuarantineReason {
    /// The body is not JSON.
    NotJson,
    /// The body is JSON but not an object.
    NotAnObject,
    /// A field the event needs is absent.
    MissingField,
    /// A field the event needs has a value that cannot be read.
    InvalidField,
    /// A related party's event does not say whose event it is.
    AmbiguousOwner,
    /// This service does not act on the event type.
    UnknownEventType,
    /// The event names no owner.
    UnknownOwner,
    /// No stored session has the event's session id.
    UnknownSession,
    /// The session is stored for another kind of entity than the event says.
    OwnerMismatch,
    /// The session is stored for more than one owner.
    ContestedSession,
    /// No earlier event paired the event's `kycId` with an owner.
    UnknownKycId,
    /// Earlier events paired the `kycId` with more than one owner.
    ContestedKycId,
    /// The owner is not known yet. A copy is kept each time the event is sent back (503), so
    /// that it can be replayed if Ralio stops sending it.
    AttributionPending,
}

impl QuarantineReason {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Returns whether the owner may still become known (a session not stored yet, a `kycId`
    /// not paired yet, an owner not named yet). If so, Ralio is asked to send the event again
    /// for a while. A session of the wrong kind of entity stays wrong.
    pub fn may_resolve(self) -> bool {
        matches!(
            self,
            Self::UnknownSession | Self::UnknownOwner | Self::UnknownKycId
        )
    }
}

impl PartialEq<&str> for QuarantineReason {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}
