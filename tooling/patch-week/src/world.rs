//! The local account: LocalStack, moto and the SSM simulator running; the resources template.yaml
//! declares created in them; the EventBridge rules made from the template's own patterns, each
//! targeting a delivery queue; and the four functions' binaries running under the Lambda Runtime API,
//! fed from those queues with Lambda's asynchronous-invocation semantics (retries, then the failure
//! queue).

use crate::error::{Call, WeekError};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::QueueAttributeName;
use patchpilot_test_support::lambda_api::LambdaApi;
use patchpilot_test_support::lambda_host::FunctionHost;
use patchpilot_test_support::recorder::{Recorder, RecordingProxy, Upstreams};
use patchpilot_test_support::resources::{create_table, topic_with_queue};
use patchpilot_test_support::ssm_sim::Background;
use patchpilot_test_support::ssm_sim::state::State;
use patchpilot_test_support::template::{Deployment, Template};
use patchpilot_test_support::{LocalAws, REGION};
use serde_json::Value;
use tokio::sync::Mutex;

/// The functions: template logical id, binary name, memory and timeout (as in template.yaml).
pub const FUNCTIONS: &[(&str, &str)] = &[
    ("PatchGroupTaggerFunction", "patch-group-tagger"),
    ("InstallAlertsFunction", "install-alerts"),
    ("ComplianceSnapshotFunction", "compliance-snapshot"),
    ("PatchGateFunction", "patch-gate"),
];

/// The prefix of the week's EventBridge rules, as a stack named `patchpilot` would name them.
pub const RULE_PREFIX: &str = "patchpilot-";

/// One delivery to a function: the event's kind and how the invocation (with retries) ended.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub function: String,
    pub detail_type: String,
    pub attempts: usize,
    pub result: Result<Value, String>,
}

pub struct World {
    pub aws: LocalAws,
    pub sim: Background,
    pub config: aws_config::SdkConfig,
    pub ec2: aws_sdk_ec2::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub events: aws_sdk_eventbridge::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    /// S3 (path-style), for the promotion bucket.
    pub s3: aws_sdk_s3::Client,
    /// The stack's promotion bucket (`PromotionBucket`).
    pub promotion_bucket: String,
    pub topic_arn: String,
    /// A queue subscribed to the alert topic: what a subscriber receives.
    pub alerts_queue: String,
    pub failure_queue: String,
    pub table: String,
    pub hosts: BTreeMap<String, Arc<FunctionHost>>,
    /// Lambda's Invoke API over the hosts (what `patchpilot gate ...` calls).
    pub lambda: LambdaApi,
    /// Function → its delivery queue URL.
    pub delivery_queues: BTreeMap<String, String>,
    pub rules: Vec<(String, String)>,
    pub deliveries: Arc<Mutex<Vec<Delivery>>>,
    in_flight: Arc<AtomicUsize>,
    pumps: Vec<tokio::task::JoinHandle<()>>,
    pub init_times: BTreeMap<String, Duration>,
    /// Each function's environment, as its host started it.
    pub envs: BTreeMap<String, Vec<(String, String)>>,
    pub log_dir: PathBuf,
    /// Every AWS call the functions' binaries made, through their recording proxies.
    pub recorder: Recorder,
    _proxies: Vec<RecordingProxy>,
    /// The template parameters and local resources of this deployment (for the IAM check).
    pub parameters: Vec<(String, String)>,
    pub resources: BTreeMap<String, String>,
}

impl World {
    /// The simulator's account, to read (a poisoned lock is an error, never a panic).
    pub fn sim_state(
        &self,
    ) -> Result<
        std::sync::RwLockReadGuard<'_, patchpilot_test_support::ssm_sim::state::State>,
        WeekError,
    > {
        self.sim
            .app
            .state
            .read()
            .map_err(|_| WeekError::Poisoned("the simulator's state"))
    }

    /// The simulator's account, to change.
    pub fn sim_state_mut(
        &self,
    ) -> Result<
        std::sync::RwLockWriteGuard<'_, patchpilot_test_support::ssm_sim::state::State>,
        WeekError,
    > {
        self.sim
            .app
            .state
            .write()
            .map_err(|_| WeekError::Poisoned("the simulator's state"))
    }

    /// Starts everything. `parameters` are the template parameters of this local deployment.
    pub async fn start(
        state: State,
        bin_dir: &Path,
        parameters: &[(&str, &str)],
        log_dir: &Path,
    ) -> Result<Self, WeekError> {
        let aws = LocalAws::start()?;
        let sim = Background::start(state, Default::default())
            .map_err(|err| WeekError::Setup(err.to_string()))?;
        // Window runs send their Run Command and maintenance-window events into EventBridge, as
        // Systems Manager does.
        sim.app.send_events_to(Some(aws.localstack_url.clone()));
        let config = patchpilot_test_support::sdk_config(&aws.localstack_url).await;
        let dynamodb = aws_sdk_dynamodb::Client::new(&aws.dynamodb_config().await);
        let sns = aws_sdk_sns::Client::new(&config);
        let sqs = aws_sdk_sqs::Client::new(&config);
        let events = aws_sdk_eventbridge::Client::new(&config);

        let (topic_arn, alerts_queue) = topic_with_queue(&sns, &sqs, "patchpilot-alerts").await;
        let table = "patchpilot-state".to_owned();
        create_table(&dynamodb, &table).await;
        let failure_queue = queue(&sqs, "patchpilot-failures").await?;
        let failure_arn = queue_arn(&sqs, &failure_queue).await?;
        let s3 = patch_gate::handler::s3_client(&config);
        let promotion_bucket = "patchpilot-promotionbucket-local".to_owned();
        s3.create_bucket()
            .bucket(&promotion_bucket)
            .create_bucket_configuration(
                aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(REGION))
                    .build(),
            )
            .send()
            .await
            .call("s3:CreateBucket")?;

        let template = Template::load();
        let mut deployment = Deployment::new(&template, parameters);
        // The functions' application log level, as the template's LoggingConfig resolves it.
        let application_log_level = deployment
            .resolve(&template.root["Globals"]["Function"]["LoggingConfig"]["ApplicationLogLevel"])?
            .as_str()
            .unwrap_or("INFO")
            .to_owned();
        deployment
            .resources
            .insert("AlertTopic".into(), topic_arn.clone());
        deployment
            .resources
            .insert("StateTable".into(), table.clone());
        deployment
            .resources
            .insert("FailureQueue".into(), failure_queue.clone());
        deployment
            .resources
            .insert("FailureQueue.Arn".into(), failure_arn);
        deployment
            .resources
            .insert("PromotionBucket".into(), promotion_bucket.clone());
        deployment.resources.insert(
            "PromotionBucket.Arn".into(),
            format!("arn:aws:s3:::{promotion_bucket}"),
        );

        let recorder = Recorder::default();
        let mut proxies = Vec::new();
        let mut hosts = BTreeMap::new();
        let mut delivery_queues = BTreeMap::new();
        let mut rules = Vec::new();
        let mut init_times = BTreeMap::new();
        let mut envs = BTreeMap::new();
        for (logical_id, binary) in FUNCTIONS {
            let mut env = deployment.environment(logical_id)?;
            // Every endpoint is the function's recording proxy, which forwards to the local service.
            let proxy = RecordingProxy::start(
                logical_id,
                Upstreams {
                    ssm: sim.url.clone(),
                    dynamodb: aws.dynamodb_url.clone(),
                    localstack: aws.localstack_url.clone(),
                },
                recorder.clone(),
            )
            .await?;
            env.extend([
                ("AWS_ENDPOINT_URL".to_owned(), proxy.url.clone()),
                ("AWS_ENDPOINT_URL_SSM".to_owned(), proxy.url.clone()),
                ("AWS_ENDPOINT_URL_DYNAMODB".to_owned(), proxy.url.clone()),
                ("AWS_REGION".to_owned(), REGION.to_owned()),
                ("AWS_ACCESS_KEY_ID".to_owned(), "test".to_owned()),
                ("AWS_SECRET_ACCESS_KEY".to_owned(), "test".to_owned()),
                ("AWS_LAMBDA_LOG_FORMAT".to_owned(), "JSON".to_owned()),
                // What Lambda sets from the function's application log level (LoggingConfig).
                (
                    "AWS_LAMBDA_LOG_LEVEL".to_owned(),
                    application_log_level.clone(),
                ),
            ]);
            let properties = &template.resource(logical_id)["Properties"];
            let memory = properties["MemorySize"].as_u64().unwrap_or(128) as u32;
            let timeout = properties["Timeout"].as_u64().unwrap_or(30);
            let path = bin_dir.join(binary);
            if !path.exists() {
                return Err(WeekError::Account(format!(
                    "{} is not built (cargo build --bins)",
                    path.display()
                )));
            }
            let host = FunctionHost::start(
                binary,
                &path,
                &env,
                memory,
                Duration::from_secs(timeout),
                log_dir,
            )
            .await?;
            init_times.insert(
                binary.to_string(),
                host.wait_ready(Duration::from_secs(20)).await?,
            );
            let queue_url = queue(&sqs, &format!("{binary}-deliveries")).await?;
            let queue_arn = queue_arn(&sqs, &queue_url).await?;
            for (event, pattern) in deployment.rules(logical_id)? {
                // Named like a stack's rules (`<stack>-...`), so `patchpilot doctor` finds them.
                let rule = format!("{RULE_PREFIX}{binary}-{event}");
                events
                    .put_rule()
                    .name(&rule)
                    .event_pattern(pattern.to_string())
                    .send()
                    .await
                    .call("events:PutRule")?;
                events
                    .put_targets()
                    .rule(&rule)
                    .targets(
                        aws_sdk_eventbridge::types::Target::builder()
                            .id("function")
                            .arn(&queue_arn)
                            .build()
                            .call("events:PutTargets")?,
                    )
                    .send()
                    .await
                    .call("events:PutTargets")?;
                rules.push((rule, pattern.to_string()));
            }
            proxies.push(proxy);
            hosts.insert(binary.to_string(), Arc::new(host));
            envs.insert(binary.to_string(), env);
            delivery_queues.insert(binary.to_string(), queue_url);
        }
        let ssm = aws_sdk_ssm::Client::new(&patchpilot_test_support::sdk_config(&sim.url).await);
        let lambda = LambdaApi::start(hosts.clone()).await?;
        let mut world = Self {
            ssm,
            ec2: aws_sdk_ec2::Client::new(&config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(&config),
            s3,
            promotion_bucket,
            aws,
            sim,
            config,
            sqs,
            events,
            topic_arn,
            alerts_queue,
            failure_queue,
            table,
            hosts,
            lambda,
            delivery_queues,
            rules,
            deliveries: Arc::default(),
            in_flight: Arc::default(),
            pumps: Vec::new(),
            init_times,
            envs,
            log_dir: log_dir.to_owned(),
            recorder,
            _proxies: proxies,
            parameters: parameters
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            resources: deployment.resources.clone(),
        };
        world.start_pumps();
        // CloudWatch Logs' EMF extraction, which LocalStack lacks: the functions' metric lines, as
        // Lambda's log-level filter keeps them, become metric data the alarms evaluate.
        let logs = world.hosts.values().map(|host| host.log.clone()).collect();
        world.pumps.push(patchpilot_test_support::emf::forward(
            logs,
            application_log_level,
            world.cloudwatch.clone(),
        ));
        Ok(world)
    }

    /// One task per function: its delivery queue drained into asynchronous invocations.
    fn start_pumps(&mut self) {
        for (function, queue_url) in &self.delivery_queues {
            let host = self.hosts[function].clone();
            let (sqs, queue_url, function) =
                (self.sqs.clone(), queue_url.clone(), function.clone());
            let (deliveries, in_flight, failure_queue) = (
                self.deliveries.clone(),
                self.in_flight.clone(),
                self.failure_queue.clone(),
            );
            self.pumps.push(tokio::spawn(async move {
                loop {
                    let received = sqs
                        .receive_message()
                        .queue_url(&queue_url)
                        .max_number_of_messages(10)
                        .wait_time_seconds(1)
                        .send()
                        .await;
                    let Ok(received) = received else {
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue;
                    };
                    let messages = received.messages().to_vec();
                    in_flight.fetch_add(messages.len(), Ordering::SeqCst);
                    let mut tasks = Vec::new();
                    for message in messages {
                        let host = host.clone();
                        let (sqs, queue_url, function, deliveries, in_flight, failure_queue) = (
                            sqs.clone(),
                            queue_url.clone(),
                            function.clone(),
                            deliveries.clone(),
                            in_flight.clone(),
                            failure_queue.clone(),
                        );
                        // Lambda runs concurrent events in parallel environments; one process here
                        // takes them one at a time, as a single environment would.
                        tasks.push(tokio::spawn(async move {
                            let body = message.body().unwrap_or_default().to_owned();
                            let event: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                            let attempts = host.invoke_async(event.clone()).await;
                            let last = attempts.last().cloned();
                            let result = match last {
                                Some(Ok(value)) => Ok(value),
                                Some(Err(err)) => {
                                    // Out of retries: the failure destination, as EventInvokeConfig says.
                                    let _ = sqs
                                        .send_message()
                                        .queue_url(&failure_queue)
                                        .message_body(
                                            serde_json::json!({"function": function, "error": err.to_string(), "event": event}).to_string(),
                                        )
                                        .send()
                                        .await;
                                    Err(err.to_string())
                                }
                                None => Err("not invoked".to_owned()),
                            };
                            deliveries.lock().await.push(Delivery {
                                function: function.clone(),
                                detail_type: event["detail-type"].as_str().unwrap_or_default().to_owned(),
                                attempts: attempts.len(),
                                result,
                            });
                            if let Some(handle) = message.receipt_handle() {
                                let _ = sqs
                                    .delete_message()
                                    .queue_url(&queue_url)
                                    .receipt_handle(handle)
                                    .send()
                                    .await;
                            }
                            in_flight.fetch_sub(1, Ordering::SeqCst);
                        }));
                    }
                    for task in tasks {
                        let _ = task.await;
                    }
                }
            }));
        }
    }

    /// Sends events into EventBridge, as AWS services would (ten per call).
    pub async fn put_events(&self, events: &[Value]) -> Result<(), WeekError> {
        for chunk in events.chunks(10) {
            let mut request = self.events.put_events();
            for event in chunk {
                let mut entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                    .source(event["source"].as_str().unwrap_or_default())
                    .detail_type(event["detail-type"].as_str().unwrap_or_default())
                    .detail(event["detail"].to_string());
                for resource in event["resources"].as_array().into_iter().flatten() {
                    entry = entry.resources(resource.as_str().unwrap_or_default());
                }
                request = request.entries(entry.build());
            }
            let output = request.send().await.call("events:PutEvents")?;
            if output.failed_entry_count() > 0 {
                return Err(WeekError::Account(format!(
                    "PutEvents refused {} entries",
                    output.failed_entry_count()
                )));
            }
        }
        Ok(())
    }

    /// Hands an event straight to a function's delivery queue (what an EventBridge schedule does).
    pub async fn schedule(&self, function: &str, event: &Value) -> Result<(), WeekError> {
        self.sqs
            .send_message()
            .queue_url(&self.delivery_queues[function])
            .message_body(event.to_string())
            .send()
            .await
            .map(|_| ())
            .call("sqs:SendMessage")
    }

    /// Waits until every delivery queue is empty and nothing is in flight for a while.
    pub async fn settle(&self, limit: Duration) -> Result<(), WeekError> {
        let started = Instant::now();
        let mut quiet_since: Option<Instant> = None;
        while started.elapsed() < limit {
            let mut pending = self.in_flight.load(Ordering::SeqCst);
            for queue_url in self.delivery_queues.values() {
                let attributes = self
                    .sqs
                    .get_queue_attributes()
                    .queue_url(queue_url)
                    .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
                    .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
                    .send()
                    .await
                    .call("sqs:GetQueueAttributes")?;
                for value in attributes.attributes().into_iter().flat_map(|a| a.values()) {
                    pending += value.parse::<usize>().unwrap_or(0);
                }
            }
            if pending == 0 {
                let since = *quiet_since.get_or_insert_with(Instant::now);
                if since.elapsed() > Duration::from_millis(2500) {
                    return Ok(());
                }
            } else {
                quiet_since = None;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Err(WeekError::Account(format!(
            "deliveries did not settle within {limit:?}"
        )))
    }

    /// Deliveries so far, then forgets them.
    pub async fn take_deliveries(&self) -> Vec<Delivery> {
        std::mem::take(&mut *self.deliveries.lock().await)
    }

    /// Every message on the alert topic since the last call (what a subscriber received).
    pub async fn alerts(&self) -> Vec<Value> {
        patchpilot_test_support::resources::drain_queue(
            &self.sqs,
            &self.alerts_queue,
            0,
            Duration::from_secs(3),
        )
        .await
    }

    /// Messages in the failure queue.
    pub async fn failures(&self) -> Result<usize, WeekError> {
        let attributes = self
            .sqs
            .get_queue_attributes()
            .queue_url(&self.failure_queue)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .call("sqs:GetQueueAttributes")?;
        Ok(attributes
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessages))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    /// Stops the pumps; the services and functions stop when the world is dropped.
    pub fn stop(&mut self) {
        for pump in self.pumps.drain(..) {
            pump.abort();
        }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn queue(sqs: &aws_sdk_sqs::Client, name: &str) -> Result<String, WeekError> {
    sqs.create_queue()
        .queue_name(name)
        .send()
        .await
        .call("sqs:CreateQueue")?
        .queue_url()
        .map(str::to_owned)
        .ok_or_else(|| WeekError::Account("CreateQueue returned no URL".to_owned()))
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<String, WeekError> {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .call("sqs:GetQueueAttributes")?
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .cloned()
        .ok_or_else(|| WeekError::Account("no queue ARN".to_owned()))
}
