//! The local AWS the functions are tested against does what the functions rely on: SNS fan-out to SQS
//! with message attributes, CloudWatch metrics over the CBOR protocol the current SDK speaks,
//! EventBridge rules delivering to SQS, DynamoDB conditional writes with TTL (atomic under concurrency,
//! as DynamoDB's are), EC2 tags. Clients are
//! built the way the functions build theirs, from one shared configuration.

use std::time::Duration;

use aws_sdk_cloudwatch::primitives::DateTime as CwDateTime;
use aws_sdk_cloudwatch::types::{
    Dimension, Metric, MetricDataQuery, MetricDatum, MetricStat, StandardUnit,
};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sns::types::MessageAttributeValue;
use patchpilot_test_support::{LocalAws, event_pattern_matches, unique_name};
use serde_json::{Value, json};

/// A new on-demand table keyed by the string `pk`, as the state table is; returns its name.
async fn pk_table(dynamodb: &aws_sdk_dynamodb::Client, prefix: &str) -> String {
    let table = unique_name(prefix);
    dynamodb
        .create_table()
        .table_name(&table)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    table
}

async fn receive_one(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Value {
    for _ in 0..20 {
        let received = sqs
            .receive_message()
            .queue_url(queue_url)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        if let Some(message) = received.messages().first() {
            return serde_json::from_str(message.body().unwrap()).unwrap();
        }
    }
    panic!("no message arrived on {queue_url}");
}

async fn queue_with_arn(sqs: &aws_sdk_sqs::Client, name: &str) -> (String, String) {
    let url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap();
    let arn =
        attributes.attributes().unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn].clone();
    (url, arn)
}

#[tokio::test]
async fn sns_delivers_to_sqs_with_attributes() {
    let config = LocalAws::shared().sdk_config().await;
    let sns = aws_sdk_sns::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let topic = sns
        .create_topic()
        .name(unique_name("alerts"))
        .send()
        .await
        .unwrap()
        .topic_arn()
        .unwrap()
        .to_owned();
    let (queue_url, queue_arn) = queue_with_arn(&sqs, &unique_name("alerts-sub")).await;
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(&queue_arn)
        .send()
        .await
        .unwrap();
    sns.publish()
        .topic_arn(&topic)
        .subject("Patch install failed on i-0a1b2c3d4e5f60718")
        .message(
            json!({"default": "text", "sqs": "{\"instance_id\":\"i-0a1b2c3d4e5f60718\"}"})
                .to_string(),
        )
        .message_structure("json")
        .message_attributes(
            "patch_group",
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value("staging")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let envelope = receive_one(&sqs, &queue_url).await;
    assert_eq!(
        envelope["Subject"],
        "Patch install failed on i-0a1b2c3d4e5f60718"
    );
    assert_eq!(
        envelope["Message"], "{\"instance_id\":\"i-0a1b2c3d4e5f60718\"}",
        "the sqs-specific message is delivered"
    );
    assert_eq!(
        envelope["MessageAttributes"]["patch_group"]["Value"],
        "staging"
    );
}

#[tokio::test]
async fn cloudwatch_metrics_round_trip() {
    let config = LocalAws::shared().sdk_config().await;
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&config);
    let namespace = unique_name("PatchCompliance");
    let now = std::time::SystemTime::now();
    let dimension = Dimension::builder()
        .name("PatchGroup")
        .value("staging")
        .build();
    cloudwatch
        .put_metric_data()
        .namespace(&namespace)
        .metric_data(
            MetricDatum::builder()
                .metric_name("CompliancePercent")
                .dimensions(dimension.clone())
                .value(87.5)
                .unit(StandardUnit::Percent)
                .timestamp(CwDateTime::from(now))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let query = MetricDataQuery::builder()
        .id("compliance")
        .metric_stat(
            MetricStat::builder()
                .metric(
                    Metric::builder()
                        .namespace(&namespace)
                        .metric_name("CompliancePercent")
                        .dimensions(dimension)
                        .build(),
                )
                .period(60)
                .stat("Minimum")
                .build(),
        )
        .build();
    let data = cloudwatch
        .get_metric_data()
        .metric_data_queries(query)
        .start_time(CwDateTime::from(now - Duration::from_secs(600)))
        .end_time(CwDateTime::from(now + Duration::from_secs(600)))
        .send()
        .await
        .unwrap();
    assert_eq!(data.metric_data_results()[0].values(), [87.5]);
}

#[tokio::test]
async fn eventbridge_rules_route_matching_events_to_sqs() {
    let config = LocalAws::shared().sdk_config().await;
    let events = aws_sdk_eventbridge::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let pattern = json!({"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"], "detail": {"state": ["running"]}});
    let running = json!({"instance-id": "i-0a1b2c3d4e5f60718", "state": "running"});
    let pending = json!({"instance-id": "i-0a1b2c3d4e5f60718", "state": "pending"});
    let sample = |detail: &Value| {
        json!({"id": "1", "account": "111122223333", "region": "eu-west-1", "time": "2026-11-26T09:14:02Z",
        "source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification", "resources": [], "detail": detail}).to_string()
    };
    let matches = |event: String| {
        let (events, pattern) = (events.clone(), pattern.to_string());
        async move { event_pattern_matches(&events, &pattern, &event).await }
    };
    assert!(matches(sample(&running)).await);
    assert!(!matches(sample(&pending)).await);

    let bus = unique_name("bus");
    events.create_event_bus().name(&bus).send().await.unwrap();
    let rule = unique_name("rule");
    events
        .put_rule()
        .name(&rule)
        .event_bus_name(&bus)
        .event_pattern(pattern.to_string())
        .send()
        .await
        .unwrap();
    let (queue_url, queue_arn) = queue_with_arn(&sqs, &unique_name("rule-target")).await;
    events
        .put_targets()
        .rule(&rule)
        .event_bus_name(&bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(queue_arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    for detail in [&pending, &running] {
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .event_bus_name(&bus)
            .source("aws.ec2")
            .detail_type("EC2 Instance State-change Notification")
            .detail(detail.to_string())
            .build();
        let put = events.put_events().entries(entry).send().await.unwrap();
        assert_eq!(put.failed_entry_count(), 0);
    }
    let delivered = receive_one(&sqs, &queue_url).await;
    assert_eq!(
        delivered["detail"]["state"], "running",
        "only the matching event is delivered"
    );
}

#[tokio::test]
async fn dynamodb_conditional_writes_and_ttl() {
    let config = LocalAws::shared().dynamodb_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let table = pk_table(&dynamodb, "patchpilot-state").await;
    dynamodb
        .update_time_to_live()
        .table_name(&table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name("expires_at")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let put = || {
        dynamodb
            .put_item()
            .table_name(&table)
            .item("pk", AttributeValue::S("alert#cmd#i-1#Failed".into()))
            .item("expires_at", AttributeValue::N("4102444800".into()))
            .condition_expression("attribute_not_exists(pk)")
            .send()
    };
    put().await.unwrap();
    let second = put().await.unwrap_err();
    assert!(
        second
            .into_service_error()
            .is_conditional_check_failed_exception(),
        "the duplicate is refused"
    );
}

#[tokio::test]
async fn ec2_instances_carry_tags() {
    let config = LocalAws::shared().sdk_config().await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let launched = ec2
        .run_instances()
        .image_id("ami-0123456789abcdef0")
        .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
        .min_count(2)
        .max_count(2)
        .send()
        .await
        .unwrap();
    let ids: Vec<String> = launched
        .instances()
        .iter()
        .filter_map(|i| i.instance_id().map(str::to_owned))
        .collect();
    let group = unique_name("pg");
    ec2.create_tags()
        .set_resources(Some(ids.clone()))
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("Patch Group")
                .value(&group)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let tags = ec2
        .describe_tags()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("value")
                .values(&group)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags().len(), 2);
    assert!(
        tags.tags()
            .iter()
            .all(|tag| tag.key() == Some("Patch Group"))
    );
}

/// Concurrent conditional writes to one item admit exactly as many as the condition allows: DynamoDB
/// checks a condition and writes as one step, and install-alerts' storm control counts on it (moto's
/// threaded server did not, and under load let an eleventh alert through a threshold of ten;
/// tooling/moto_server.py serves one request at a time).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dynamodb_conditional_writes_are_atomic_under_concurrency() {
    let config = LocalAws::shared().dynamodb_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let table = pk_table(&dynamodb, "patchpilot-storm").await;
    let writes = (0..120).map(|n| {
        let dynamodb = dynamodb.clone();
        let table = table.clone();
        tokio::spawn(async move {
            dynamodb
                .update_item()
                .table_name(&table)
                .key("pk", AttributeValue::S("storm#cmd".to_owned()))
                .update_expression("ADD alerted :instance")
                .condition_expression("attribute_not_exists(alerted) OR size(alerted) < :threshold")
                .expression_attribute_values(
                    ":instance",
                    AttributeValue::Ss(vec![format!("i-{n:08x}")]),
                )
                .expression_attribute_values(":threshold", AttributeValue::N("10".to_owned()))
                .send()
                .await
                .is_ok()
        })
    });
    let mut admitted = 0;
    for write in writes.collect::<Vec<_>>() {
        admitted += usize::from(write.await.unwrap());
    }
    assert_eq!(
        admitted, 10,
        "exactly the threshold, whatever the interleaving"
    );
}
