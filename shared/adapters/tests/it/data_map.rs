//! `docs/data-map.md` lists every field of every item the DynamoDB store writes. This test reads
//! the field names from the item types themselves (serde's own list of the names it reads), adds
//! the attributes that updates write by name, and fails when the map misses one, so that no
//! field can be added without saying whether it is personal data, why it is kept and how long.

use std::collections::BTreeSet;

use idv_adapters::store::dynamo::items::{
    AccountItem, AccountOwnerItem, ActivationItem, AuditItem, Identity, Key, KycOwnerItem,
    LeaseItem, MarkerItem, ProfileItem, QuarantineItem, SessionItem, TickItem, TombstoneItem,
};
use idv_adapters::store::dynamo::schema::attr;
use idv_adapters::testing::documented_fields;
use serde_aux::serde_introspection::serde_introspect;

fn fields(lists: &[&[&str]], written_by_name: &[&str]) -> BTreeSet<String> {
    lists
        .iter()
        .flat_map(|list| list.iter())
        .chain(written_by_name)
        .map(|name| (*name).to_owned())
        .collect()
}

#[test]
fn every_field_the_store_writes_is_in_the_data_map() {
    let key = serde_introspect::<Key>();
    let identity = serde_introspect::<Identity>();
    let item_types: Vec<(&str, BTreeSet<String>)> = vec![
        (
            "profile",
            fields(
                &[
                    key,
                    identity,
                    serde_introspect::<ProfileItem>(),
                    serde_introspect::<LeaseItem>(),
                    serde_introspect::<TombstoneItem>(),
                ],
                &["updatedAt", attr::TTL],
            ),
        ),
        (
            "session",
            fields(
                &[key, identity, serde_introspect::<SessionItem>()],
                &[attr::TTL],
            ),
        ),
        ("account", fields(&[serde_introspect::<AccountItem>()], &[])),
        (
            "account_owner",
            fields(&[serde_introspect::<AccountOwnerItem>()], &[]),
        ),
        (
            "activation",
            fields(&[serde_introspect::<ActivationItem>()], &[]),
        ),
        (
            "kyc_owner",
            fields(&[serde_introspect::<KycOwnerItem>()], &[]),
        ),
        ("audit", fields(&[serde_introspect::<AuditItem>()], &[])),
        (
            "event",
            fields(
                &[serde_introspect::<MarkerItem>()],
                &[attr::REPEAT_AUDITED_AT],
            ),
        ),
        (
            "receipt",
            fields(&[key], &[attr::FIRST_RECEIVED_AT, attr::TTL]),
        ),
        ("tick", fields(&[serde_introspect::<TickItem>()], &[])),
        (
            "quarantine",
            fields(&[serde_introspect::<QuarantineItem>()], &[]),
        ),
    ];
    for (entity, written) in item_types {
        assert!(written.len() >= 3, "{entity}: {written:?}");
        let documented = documented_fields(entity);
        let missing: Vec<&String> = written.difference(&documented).collect();
        assert!(
            missing.is_empty(),
            "docs/data-map.md does not list {missing:?} of `{entity}`"
        );
    }
}
