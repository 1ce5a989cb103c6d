//! This module creates the table from [`super::schema::TABLE`], for tests, the local runner
//! and as the reference that `template.yaml` is checked against.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};

use super::errors::sdk_error;
use super::schema::TABLE;
use crate::store::{StoreError, StoreResult};

/// Creates the table (on demand, with its indexes and TTL) unless it already exists.
pub async fn ensure_table(client: &Client, name: &str) -> StoreResult<()> {
    let build = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Rejected(e.to_string());
    let key = |attribute: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(attribute)
            .key_type(kind)
            .build()
            .map_err(build)
    };
    let mut attributes = vec![TABLE.hash_key, TABLE.range_key];
    for index in TABLE.indexes {
        attributes.push(index.hash_key);
        attributes.extend(index.range_key);
    }
    attributes.sort_unstable();
    attributes.dedup();

    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(TABLE.hash_key, KeyType::Hash)?)
        .key_schema(key(TABLE.range_key, KeyType::Range)?)
        .stream_specification(
            aws_sdk_dynamodb::types::StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(aws_sdk_dynamodb::types::StreamViewType::from(
                    TABLE.stream_view_type,
                ))
                .build()
                .map_err(build)?,
        );
    for attribute in attributes {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(attribute)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(build)?,
        );
    }
    for index in TABLE.indexes {
        let mut keys = vec![key(index.hash_key, KeyType::Hash)?];
        if let Some(range) = index.range_key {
            keys.push(key(range, KeyType::Range)?);
        }
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(index.name)
                .set_key_schema(Some(keys))
                .projection(if index.included.is_empty() {
                    Projection::builder()
                        .projection_type(ProjectionType::KeysOnly)
                        .build()
                } else {
                    Projection::builder()
                        .projection_type(ProjectionType::Include)
                        .set_non_key_attributes(Some(
                            index.included.iter().map(|a| (*a).to_owned()).collect(),
                        ))
                        .build()
                })
                .build()
                .map_err(build)?,
        );
    }
    match request.send().await {
        Ok(_) => {}
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) =>
        {
            return Ok(());
        }
        Err(err) => return Err(sdk_error("CreateTable", err)),
    }
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(TABLE.ttl_attribute)
                .enabled(true)
                .build()
                .map_err(build)?,
        )
        .send()
        .await
        .map_err(|e| sdk_error("UpdateTimeToLive", e))?;
    Ok(())
}
