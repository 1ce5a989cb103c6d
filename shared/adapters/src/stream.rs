//! Reading a table's DynamoDB stream the way a Lambda event source mapping does, for
//! `idv-local --store dynamodb` and for tests: records come out in the shape Lambda delivers
//! them, so the event publisher's own handler consumes them.

use std::collections::BTreeMap;

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

/// Follows every shard of one stream from its oldest record.
pub struct StreamReader {
    client: aws_sdk_dynamodbstreams::Client,
    stream_arn: String,
    /// Next iterator per shard; `None` once a closed shard is read to its end.
    shards: BTreeMap<String, Option<String>>,
}

impl StreamReader {
    /// The stream of `table`, which must have one.
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
            stream_arn,
            shards: BTreeMap::new(),
        })
    }

    /// The records written since the last poll, shard by shard, each shard in order.
    pub async fn poll(&mut self) -> Result<Vec<EventRecord>, StoreError> {
        self.discover_shards().await?;
        let mut records = Vec::new();
        for iterator in self.shards.values_mut() {
            let Some(current) = iterator.clone() else {
                continue;
            };
            let output = self
                .client
                .get_records()
                .shard_iterator(current)
                .send()
                .await
                .map_err(|e| stream_error("GetRecords", e))?;
            for record in output.records() {
                records.push(lambda_record(record, &self.stream_arn)?);
            }
            *iterator = output.next_shard_iterator().map(str::to_owned);
        }
        Ok(records)
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

/// A record as the Lambda event source mapping delivers it.
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
