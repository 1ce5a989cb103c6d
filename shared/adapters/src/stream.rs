//! This module reads a table's DynamoDB stream the way a Lambda event source mapping does, for
//! `idv-local --store dynamodb` and for tests. Records come out in the shape Lambda delivers them,
//! so that the event publisher's own handler consumes them.

use std::collections::{BTreeMap, BTreeSet};

use aws_lambda_events::event::dynamodb::EventRecord;
use aws_sdk_dynamodbstreams::types::{Record, ShardIteratorType};

use crate::store::StoreError;

fn stream_error(
    operation: &str,
    err: impl std::error::Error + Send + Sync + 'static,
) -> StoreError {
    StoreError::Unavailable(format!(
        "{operation}: {}",
        aws_sdk_dynamodbstreams::error::DisplayErrorContext(err)
    ))
}

/// This reader reads every shard of one stream and hands each record out once.
pub struct StreamReader {
    client: aws_sdk_dynamodbstreams::Client,
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
    stream_arn: String,
    /// Each shard gets a fresh iterator at its oldest record on every read.
    shards: BTreeMap<String, Option<String>>,
    /// These are the records already handed out.
    handed_out: BTreeSet<String>,
}

impl StreamReader {
    /// Opens the stream of `table`, which must have one.
    pub async fn open(
        dynamodb: &aws_sdk_dynamodb::Client,
        client: aws_sdk_dynamodbstreams::Client,
        table: &str,
    ) -> Result<Self, StoreError> {
        let described = dynamodb
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| stream_error("DescribeTable", e))?;
        let stream_arn = described
            .table()
            .and_then(|t| t.latest_stream_arn())
            .ok_or_else(|| StoreError::Rejected(format!("table {table} has no stream")))?
            .to_owned();
        Ok(Self {
            client,
            dynamodb: dynamodb.clone(),
            table: table.to_owned(),
            stream_arn,
            shards: BTreeMap::new(),
            handed_out: BTreeSet::new(),
        })
    }

    /// Returns the records not handed out before, in stream order, of items that the table holds.
    /// moto (the emulator `idv-local --store dynamodb` runs on) writes a cancelled transaction's
    /// items, stream records included, and then rolls back by swapping in a copy of the table taken
    /// before. An iterator obtained earlier goes on reading the discarded copy, and records of
    /// changes that never happened can show. So the stream is read through fresh iterators each
    /// time, and an audit item is handed out only if the table holds it. DynamoDB never shows
    /// uncommitted records, and in AWS the Lambda event source mapping reads the stream.
    pub async fn poll_committed(&mut self) -> Result<Vec<EventRecord>, StoreError> {
        self.shards.clear();
        self.discover_shards().await?;
        let mut all = Vec::new();
        let ids: Vec<String> = self.shards.keys().cloned().collect();
        for id in ids {
            let mut iterator = self.shards.get(&id).cloned().flatten();
            while let Some(current) = iterator {
                let output = self
                    .client
                    .get_records()
                    .shard_iterator(current)
                    .send()
                    .await
                    .map_err(|e| stream_error("GetRecords", e))?;
                if output.records().is_empty() {
                    break;
                }
                for record in output.records() {
                    all.push(lambda_record(record, &self.stream_arn)?);
                }
                iterator = output.next_shard_iterator().map(str::to_owned);
            }
        }
        // A record is identified by its position and its item's key, because after a rollback a
        // sequence number may be given again, to another item.
        let identity = |r: &EventRecord| -> String {
            let key = |name: &str| match r.change.keys.get(name) {
                Some(serde_dynamo::AttributeValue::S(value)) => value.as_str(),
                _ => "",
            };
            format!(
                "{}|{}|{}|{}",
                r.change.sequence_number.as_deref().unwrap_or(""),
                r.event_name,
                key("PK"),
                key("SK")
            )
        };
        let mut committed = Vec::new();
        let mut seen = Vec::new();
        for record in all {
            let id = identity(&record);
            if self.handed_out.contains(&id) {
                continue;
            }
            // Audit items are only ever inserted, under a key of their own, so one that the table
            // does not hold was never written.
            let is_audit = matches!(
                record.change.new_image.get("entity"),
                Some(serde_dynamo::AttributeValue::S(kind)) if kind == crate::store::dynamo::schema::entity::AUDIT
            );
            let written = !is_audit || self.holds(&record).await?;
            if !written {
                tracing::debug!("a stream record of an item never written, skipped");
            }
            seen.push(id);
            if written {
                committed.push(record);
            }
        }
        // The records count as handed out only once the whole read succeeded, so a failed read is
        // read again in full.
        self.handed_out.extend(seen);
        Ok(committed)
    }

    async fn holds(&self, record: &EventRecord) -> Result<bool, StoreError> {
        let key: std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> =
            record
                .change
                .keys
                .iter()
                .map(|(name, value)| (name.clone(), value.clone().into()))
                .collect();
        let output = self
            .dynamodb
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| stream_error("GetItem", e))?;
        Ok(output.item().is_some())
    }

    async fn discover_shards(&mut self) -> Result<(), StoreError> {
        let described = self
            .client
            .describe_stream()
            .stream_arn(&self.stream_arn)
            .send()
            .await
            .map_err(|e| stream_error("DescribeStream", e))?;
        let shards = described
            .stream_description()
            .map(|d| d.shards().to_vec())
            .unwrap_or_default();
        for shard in shards {
            let Some(id) = shard.shard_id() else { continue };
            if self.shards.contains_key(id) {
                continue;
            }
            let iterator = self
                .client
                .get_shard_iterator()
                .stream_arn(&self.stream_arn)
                .shard_id(id)
                .shard_iterator_type(ShardIteratorType::TrimHorizon)
                .send()
                .await
                .map_err(|e| stream_error("GetShardIterator", e))?;
            self.shards
                .insert(id.to_owned(), iterator.shard_iterator().map(str::to_owned));
        }
        Ok(())
    }
}

/// Converts a record into the shape the Lambda event source mapping delivers.
fn lambda_record(record: &Record, stream_arn: &str) -> Result<EventRecord, StoreError> {
    let change = record.dynamodb();
    let image = |map: Option<&std::collections::HashMap<String, _>>| {
        serde_dynamo::Item::from(map.cloned().unwrap_or_default())
    };
    let json = serde_json::json!({
        "awsRegion": record.aws_region().unwrap_or("local"),
        "eventID": record.event_id().unwrap_or_default(),
        "eventName": record.event_name().map(|n| n.as_str()).unwrap_or_default(),
        "eventSource": "aws:dynamodb",
        "eventSourceARN": stream_arn,
        "dynamodb": {
            "Keys": image(change.and_then(|c| c.keys.as_ref())),
            "NewImage": image(change.and_then(|c| c.new_image.as_ref())),
            "SequenceNumber": change.and_then(|c| c.sequence_number()).unwrap_or_default(),
            "SizeBytes": change.and_then(|c| c.size_bytes()).unwrap_or_default(),
            "StreamViewType": "NEW_IMAGE",
        }
    });
    serde_json::from_value(json).map_err(|e| StoreError::Corrupt(format!("a stream record: {e}")))
}
