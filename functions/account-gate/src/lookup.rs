//! This module looks at Ralio for an account whose creation is uncertain. It reads Ralio's
//! account list first, then the `account_activated` events kept because their account was never
//! recorded.
//!
//! Only activations received since the request could have been acted on are read, and each
//! activation's account is read at Ralio at most once. What it was read to be is kept with it,
//! so the merchant's other accounts cost one GET each, ever, not one per retry.

use chrono::{DateTime, Utc};
use idv_adapters::ralio::{AccountSearch, Deadline, RalioError};
use idv_model::{AccountIdentity, RalioAccount, Uid, WaitingActivation};

use crate::AccountGate;
use crate::create::AccountRequest;

/// The most activations whose account one lookup reads at Ralio. Beyond them the lookup is
/// inconclusive, and the next one reads the next ones.
pub const ACTIVATIONS_LOOKED_AT: usize = 25;

/// How much earlier than the request's own clock an activation may have been received,
/// because the clocks of two function instances disagree by less.
const CLOCK_SLACK: chrono::Duration = chrono::Duration::minutes(1);

/// Says what looking at Ralio told of an account.
pub(crate) enum Lookup {
    Found(RalioAccount),
    Absent,
    /// Means that absence cannot be told, so the outcome stays uncertain and is never settled
    /// by time.
    Inconclusive(&'static str),
    /// Means that Ralio was not looked at fully this time (a store read failed, or more
    /// activations wait than one lookup reads), so the caller should ask again later. An
    /// operator may never look past it.
    Unread,
}

impl AccountGate {
    /// Returns whether Ralio shows the requested account, whose creation became uncertain at
    /// `since`, either in its account list or behind an activation that arrived before its
    /// account was recorded.
    pub(crate) async fn look_at_ralio(
        &self,
        wanted: AccountRequest<'_>,
        since: DateTime<Utc>,
        deadline: Deadline,
    ) -> Result<Lookup, RalioError> {
        let call = self.parts.ralio.within(deadline);
        let (uid, alias, currency) = (wanted.uid, wanted.alias, wanted.currency);
        let listed = match call.find_account(uid, alias, currency).await? {
            AccountSearch::Found(account) => return Ok(Lookup::Found(account)),
            AccountSearch::Absent => Lookup::Absent,
            AccountSearch::Inconclusive { .. } => Lookup::Inconclusive(
                "the list may be one page of several, or holds an entry that cannot be read",
            ),
        };
        // The request was sent at most one lease before its creation became uncertain.
        let window_start = since - self.parts.settings.lease - CLOCK_SLACK;
        let waiting = match self
            .parts
            .accounts
            .activations_since(window_start, self.parts.clock.now())
            .await
        {
            Ok(waiting) => waiting,
            // Activations that were not read prove nothing either way.
            Err(e) => {
                tracing::warn!(error = %e.kind(), "activations not read");
                return Ok(Lookup::Unread);
            }
        };
        let identity = AccountIdentity::wanted(uid, alias, currency);
        let candidates: Vec<&WaitingActivation> =
            waiting.iter().filter(|w| w.may_be(&identity)).collect();
        for waiting in candidates.iter().take(ACTIVATIONS_LOOKED_AT) {
            let id = &waiting.activation.account_id;
            let read = match call.get_account(id).await {
                Ok(read) => read,
                // Ralio answers for this account, but not with one we can use (closed, not
                // ours, or not showing yet). It is not the one we look for now, but it is not
                // forgotten either, since whether Ralio lags after a creation is unknown.
                Err(error @ (RalioError::Rejected { .. } | RalioError::UserNotFound))
                    if !error.may_have_acted() =>
                {
                    continue;
                }
                Err(error) => return Err(error),
            };
            if wanted.is(&read) {
                return Ok(Lookup::Found(read.account));
            }
            // Only an account read with an owner is someone's for good, so one without an
            // owner is read again next time.
            let Some(owner) = read.user_id.as_deref().filter(|o| Uid::parse(o).is_ok()) else {
                continue;
            };
            let seen_as = AccountIdentity::read(owner, &read.account.alias, &read.account.currency);
            // A failure to keep it is not audited, because the account is then read again next
            // time, which is a cost, not a risk.
            if let Err(e) = self
                .parts
                .accounts
                .note_activation_identity(waiting, &seen_as)
                .await
            {
                tracing::warn!(error = %e.kind(), "what an activation's account is was not kept");
            }
        }
        // The next lookup reads the rest. Until then, absence is not even inconclusive but
        // unread.
        if candidates.len() > ACTIVATIONS_LOOKED_AT {
            return Ok(Lookup::Unread);
        }
        Ok(listed)
    }
}
