//! Account resources tests need, made the way template.yaml declares them: the idempotency/decision
//! table, an alert topic with a queue subscribed (so a test reads what subscribers receive), and the
//! messages read back.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TimeToLiveSpecification,
};
use serde_json::Value;

/// Creates the table template.yaml declares: key `pk` (string), TTL on `expires_at`.
pub async fn create_table(dynamodb: &aws_sdk_dynamodb::Client, name: &str) {
    dynamodb
        .create_table()
        .table_name(name)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute definition"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .expect("key schema"),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap_or_else(|err| panic!("CreateTable {name}: {err:?}"));
    dynamodb
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("expires_at")
                .enabled(true)
                .build()
                .expect("ttl spec"),
        )
        .send()
        .await
        .unwrap_or_else(|err| panic!("UpdateTimeToLive {name}: {err:?}"));
}

/// A topic and a queue subscribed to it (not raw: each message is SNS's notification document, with
/// Subject, Message and MessageAttributes). Returns (topic ARN, queue URL).
pub async fn topic_with_queue(
    sns: &aws_sdk_sns::Client,
    sqs: &aws_sdk_sqs::Client,
    name: &str,
) -> (String, String) {
    let topic = sns
        .create_topic()
        .name(name)
        .send()
        .await
        .unwrap_or_else(|err| panic!("CreateTopic {name}: {err:?}"))
        .topic_arn()
        .expect("topic ARN")
        .to_owned();
    let queue_url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .unwrap_or_else(|err| panic!("CreateQueue {name}: {err:?}"))
        .queue_url()
        .expect("queue URL")
        .to_owned();
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap_or_else(|err| panic!("GetQueueAttributes {name}: {err:?}"))
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .expect("queue ARN")
        .clone();
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(queue_arn)
        .send()
        .await
        .unwrap_or_else(|err| panic!("Subscribe {name}: {err:?}"));
    (topic, queue_url)
}

/// Reads messages from `queue_url` (deleting them) until `expected` have arrived and the queue then
/// stays empty for a moment, or `timeout` passes. Returns the bodies as JSON.
pub async fn drain_queue(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    expected: usize,
    timeout: Duration,
) -> Vec<Value> {
    let started = Instant::now();
    let mut bodies = Vec::new();
    let mut quiet_since: Option<Instant> = None;
    while started.elapsed() < timeout {
        let received = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(if bodies.len() >= expected { 0 } else { 1 })
            .send()
            .await
            .unwrap_or_else(|err| panic!("ReceiveMessage: {err:?}"));
        let messages = received.messages();
        if messages.is_empty() {
            if bodies.len() >= expected {
                // Wait a little longer for anything unexpected (a duplicate) to show up.
                let since = *quiet_since.get_or_insert_with(Instant::now);
                if since.elapsed() > Duration::from_millis(1500) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            continue;
        }
        quiet_since = None;
        for message in messages {
            let body = message.body().unwrap_or_default();
            bodies.push(serde_json::from_str(body).unwrap_or(Value::String(body.to_owned())));
            if let Some(handle) = message.receipt_handle() {
                sqs.delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .ok();
            }
        }
    }
    bodies
}

/// What the gate and install-alerts write to, made for one test: a state table (moto) and a topic a
/// queue reads (LocalStack), all under one unique name.
pub struct Outbox {
    /// The test's own LocalStack account id (also the access key id that selects it).
    pub account: String,
    /// The test's own LocalStack account, for the other clients it needs.
    pub config: aws_config::SdkConfig,
    /// SNS, in that account.
    pub sns: aws_sdk_sns::Client,
    /// SQS, in the same account.
    pub sqs: aws_sdk_sqs::Client,
    /// DynamoDB (moto).
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// The topic the function publishes to.
    pub topic_arn: String,
    /// The queue subscribed to it.
    pub queue_url: String,
    /// The state table (also the resources' common name).
    pub table: String,
}

impl Outbox {
    /// Creates the table, topic and queue, named from `prefix`.
    pub async fn create(prefix: &str) -> Self {
        let aws = crate::LocalAws::shared();
        let account = crate::isolated_account();
        let config = crate::sdk_config_as(&aws.localstack_url, &account).await;
        let (sns, sqs) = (
            aws_sdk_sns::Client::new(&config),
            aws_sdk_sqs::Client::new(&config),
        );
        let dynamodb = aws_sdk_dynamodb::Client::new(&aws.dynamodb_config().await);
        let table = crate::unique_name(prefix);
        let (topic_arn, queue_url) = topic_with_queue(&sns, &sqs, &table).await;
        create_table(&dynamodb, &table).await;
        Self {
            account,
            config,
            sns,
            sqs,
            dynamodb,
            topic_arn,
            queue_url,
            table,
        }
    }

    /// The messages published so far (see [`drain_queue`]).
    pub async fn messages(&self, expected: usize, timeout: Duration) -> Vec<Value> {
        drain_queue(&self.sqs, &self.queue_url, expected, timeout).await
    }
}
