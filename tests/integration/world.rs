//! Seeding a world in the emulator with the SDK, and reading it back for assertions.

use crate::emulator::Moto;
use aws_config::SdkConfig;
use aws_sdk_autoscaling::types::LaunchTemplateSpecification;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType,
};
use aws_sdk_ec2::types::{
    BlockDeviceMapping, EbsBlockDevice, Filter, InstanceType, IpPermission, IpRange, RequestLaunchTemplateData,
};
use aws_sdk_elasticloadbalancingv2::types::{ProtocolEnum, TargetDescription, TargetTypeEnum};
use aws_sdk_sqs::types::QueueAttributeName;
use std::collections::HashMap;

pub const TABLE: &str = "firebreak-state";

pub struct World {
    /// Held so the server lives as long as the world; dropping it stops the server.
    _moto: Moto,
    pub sdk: SdkConfig,
    pub ec2: aws_sdk_ec2::Client,
    pub autoscaling: aws_sdk_autoscaling::Client,
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub vpc_id: String,
    pub subnet_id: String,
    pub web_group: String,
    pub db_group: String,
    pub topic_arn: String,
    pub queue_url: String,
}

pub struct Victim {
    pub instance_id: String,
    pub target_group_arn: Option<String>,
}

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

impl World {
    /// A VPC with a subnet, two ordinary security groups, a notification topic with a subscribed
    /// queue, and the state table.
    pub async fn seed() -> Self {
        let moto = Moto::start();
        let sdk = moto.sdk().await;
        let ec2 = aws_sdk_ec2::Client::new(&sdk);
        let vpc_id = ec2
            .create_vpc()
            .cidr_block("10.0.0.0/16")
            .send()
            .await
            .expect("vpc")
            .vpc()
            .and_then(|v| v.vpc_id())
            .expect("vpc id")
            .to_owned();
        let subnet_id = ec2
            .create_subnet()
            .vpc_id(&vpc_id)
            .cidr_block("10.0.1.0/24")
            .availability_zone("us-east-1a")
            .send()
            .await
            .expect("subnet")
            .subnet()
            .and_then(|s| s.subnet_id())
            .expect("subnet id")
            .to_owned();
        let group = |name: &'static str| {
            let ec2 = ec2.clone();
            let vpc_id = vpc_id.clone();
            async move {
                let id = ec2
                    .create_security_group()
                    .group_name(name)
                    .description(name)
                    .vpc_id(vpc_id)
                    .send()
                    .await
                    .expect("group")
                    .group_id()
                    .expect("id")
                    .to_owned();
                let ssh = IpPermission::builder()
                    .ip_protocol("tcp")
                    .from_port(22)
                    .to_port(22)
                    .ip_ranges(IpRange::builder().cidr_ip("10.0.0.0/8").build())
                    .build();
                ec2.authorize_security_group_ingress().group_id(&id).ip_permissions(ssh).send().await.expect("ingress");
                id
            }
        };
        let web_group = group("web").await;
        let db_group = group("db").await;
        let sns = aws_sdk_sns::Client::new(&sdk);
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let topic_arn =
            sns.create_topic().name("firebreak").send().await.expect("topic").topic_arn().expect("arn").to_owned();
        let queue_url =
            sqs.create_queue().queue_name("inbox").send().await.expect("queue").queue_url().expect("url").to_owned();
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("attrs");
        let queue_arn =
            attributes.attributes().and_then(|a| a.get(&QueueAttributeName::QueueArn)).expect("queue arn").clone();
        sns.subscribe().topic_arn(&topic_arn).protocol("sqs").endpoint(queue_arn).send().await.expect("subscribe");
        let ddb = aws_sdk_dynamodb::Client::new(&sdk);
        create_state_table(&ddb).await;
        Self {
            autoscaling: aws_sdk_autoscaling::Client::new(&sdk),
            elb: aws_sdk_elasticloadbalancingv2::Client::new(&sdk),
            _moto: moto,
            sdk,
            ec2,
            sqs,
            vpc_id,
            subnet_id,
            web_group,
            db_group,
            topic_arn,
            queue_url,
        }
    }

    pub fn endpoint(&self) -> &str {
        &self._moto.endpoint
    }

    /// GuardDuty produced the findings `event` delivers (see [`crate::emulator::Moto::guardduty_produced`]).
    pub fn guardduty_produced(&self, event: &serde_json::Value) {
        self._moto.guardduty_produced(event);
    }

    /// What an AWS service holds in this world without Firebreak having written it (see
    /// [`crate::emulator::Moto::seed`]).
    pub fn emulator_holds(&self, path: &str, body: &serde_json::Value) {
        self._moto.seed(path, &body.to_string());
    }

    /// Configuration for the responder under test: this world's topic and table, no settle wait.
    pub fn config(&self, extra: &[(&str, &str)]) -> firebreak::Config {
        let mut vars: HashMap<String, String> = HashMap::from([
            ("FIREBREAK_TOPIC_ARN".to_owned(), self.topic_arn.clone()),
            ("FIREBREAK_STATE_TABLE".to_owned(), TABLE.to_owned()),
            ("FIREBREAK_SETTLE_SECONDS".to_owned(), "0".to_owned()),
        ]);
        vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        firebreak::Config::from_lookup(|name| vars.get(name).cloned()).expect("valid test config")
    }

    pub async fn responder(&self, extra: &[(&str, &str)]) -> firebreak::lambda::AwsResponder {
        firebreak::lambda::aws_responder(&self.sdk, self.config(extra)).await.expect("responder")
    }

    /// A responder whose every call goes through `proxy` (the world itself is still seeded directly).
    pub async fn responder_via(
        &self,
        proxy: &crate::fault_proxy::FaultProxy,
        extra: &[(&str, &str)],
    ) -> firebreak::lambda::AwsResponder {
        let sdk = crate::emulator::sdk_for(&proxy.endpoint).await;
        firebreak::lambda::aws_responder(&sdk, self.config(extra)).await.expect("responder")
    }

    /// Decide and act on every incident of `event`, as the Lambda handler does; one report each.
    pub async fn respond(&self, event: serde_json::Value, extra: &[(&str, &str)]) -> Vec<firebreak::report::Report> {
        self.try_respond(event, extra).await.expect("state table usable")
    }

    pub async fn try_respond(
        &self,
        event: serde_json::Value,
        extra: &[(&str, &str)],
    ) -> Result<Vec<firebreak::report::Report>, firebreak::Error> {
        self.respond_at(event, extra, firebreak::clock::Clock::system()).await
    }

    /// As [`Self::try_respond`], at the moment `clock` tells (a later hour, say).
    pub async fn respond_at(
        &self,
        event: serde_json::Value,
        extra: &[(&str, &str)],
        clock: firebreak::clock::Clock,
    ) -> Result<Vec<firebreak::report::Report>, firebreak::Error> {
        self._moto.guardduty_produced(&event);
        self.deliver_at(event, extra, clock).await
    }

    /// As [`Self::respond_at`], but for an event whose findings GuardDuty never produced: forged.
    pub async fn deliver_at(
        &self,
        event: serde_json::Value,
        extra: &[(&str, &str)],
        clock: firebreak::clock::Clock,
    ) -> Result<Vec<firebreak::report::Report>, firebreak::Error> {
        let responder = self.responder(extra).await;
        let mut reports = Vec::new();
        for incident in firebreak::lambda::incidents_of(event, &responder.config).expect("parses") {
            let now = clock.now().epoch;
            let plan =
                firebreak::playbooks::decide_with_state(&responder.state, &responder.config.policy, incident, now)
                    .await;
            // Boxed: a run is a large future, and the test polls it on its own (2 MiB) stack.
            reports.push(Box::pin(responder.respond(&plan, &clock, now + 900)).await?);
        }
        Ok(reports)
    }

    /// moto's dump of one service's whole state (`/moto-api/data.json`), to compare before and after.
    pub fn service_state(&self, service: &str) -> serde_json::Value {
        use std::io::{Read, Write};
        let address = self._moto.endpoint.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(address).expect("moto reachable");
        write!(stream, "GET /moto-api/data.json HTTP/1.0\r\nHost: {address}\r\n\r\n").expect("request");
        let mut response = Vec::new();
        stream.read_to_end(&mut response).expect("response");
        let text = String::from_utf8_lossy(&response);
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
        let all: serde_json::Value = serde_json::from_str(body).expect("data.json");
        all.get(service).cloned().unwrap_or(serde_json::Value::Null)
    }

    /// A running instance in the web group with two EBS volumes; optionally a second interface in the
    /// db group, membership of an Auto Scaling group and of a target group.
    pub async fn launch(&self, second_interface: bool, in_fleet: bool) -> Victim {
        let instance_id = self
            .run_instance(|run| {
                run.block_device_mappings(volume("/dev/sda1", 8)).block_device_mappings(volume("/dev/sdf", 20))
            })
            .await;
        if second_interface {
            let eni = self
                .ec2
                .create_network_interface()
                .subnet_id(&self.subnet_id)
                .groups(&self.db_group)
                .send()
                .await
                .expect("eni");
            let eni_id = eni.network_interface().and_then(|n| n.network_interface_id()).expect("eni id").to_owned();
            self.ec2
                .attach_network_interface()
                .network_interface_id(eni_id)
                .instance_id(&instance_id)
                .device_index(1)
                .send()
                .await
                .expect("attach");
        }
        let mut target_group_arn = None;
        if in_fleet {
            self.auto_scaling_group("web", &[&instance_id]).await;
            let tg = self
                .elb
                .create_target_group()
                .name("web")
                .protocol(ProtocolEnum::Http)
                .port(80)
                .vpc_id(&self.vpc_id)
                .target_type(TargetTypeEnum::Instance)
                .send()
                .await
                .expect("target group");
            let arn = tg.target_groups()[0].target_group_arn().expect("arn").to_owned();
            let target = TargetDescription::builder().id(&instance_id).port(80).build();
            self.elb.register_targets().target_group_arn(&arn).targets(target).send().await.expect("register");
            target_group_arn = Some(arn);
        }
        Victim { instance_id, target_group_arn }
    }

    /// An Auto Scaling group `name` (with its own launch template) that `instance_ids` are attached to.
    pub async fn auto_scaling_group(&self, name: &str, instance_ids: &[&str]) {
        self.ec2
            .create_launch_template()
            .launch_template_name(name)
            .launch_template_data(
                RequestLaunchTemplateData::builder()
                    .image_id("ami-12345678")
                    .instance_type(InstanceType::T3Micro)
                    .build(),
            )
            .send()
            .await
            .expect("launch template");
        self.autoscaling
            .create_auto_scaling_group()
            .auto_scaling_group_name(name)
            .launch_template(
                LaunchTemplateSpecification::builder().launch_template_name(name).version("$Latest").build(),
            )
            .min_size(0)
            .max_size(5)
            .desired_capacity(0)
            .vpc_zone_identifier(&self.subnet_id)
            .send()
            .await
            .expect("asg");
        let mut attach = self.autoscaling.attach_instances().auto_scaling_group_name(name);
        for id in instance_ids {
            attach = attach.instance_ids(*id);
        }
        attach.send().await.expect("attach to asg");
    }

    /// A secret `name` holding `text`, as the template generates Firebreak's keys; returns its ARN.
    pub async fn secret(&self, name: &str, text: &str) -> String {
        let out = aws_sdk_secretsmanager::Client::new(&self.sdk)
            .create_secret()
            .name(name)
            .secret_string(text)
            .send()
            .await
            .expect("secret");
        out.arn().expect("arn").to_owned()
    }

    /// The idle alarm the sample events name (`idle-stop-cpu-<instance>`: CPU below 2 % in 3 of the last 6
    /// hours) as CloudWatch has it, the instance's CPU over the last six hours at `cpu` %, and the alarm
    /// in ALARM (moto evaluates no alarms, so the state is set as CloudWatch would have it).
    pub async fn idle_alarm(&self, instance_id: &str, cpu: f64) {
        self.alarm_in_alarm(&format!("idle-stop-cpu-{instance_id}"), "AWS/EC2", instance_id, cpu).await;
    }

    /// A less-than-2 % CPU alarm `name` on `namespace`'s `CPUUtilization` of `instance_id`, that metric at
    /// `cpu` % over the last six hours, and the alarm in ALARM: what anyone allowed
    /// `cloudwatch:PutMetricAlarm` (and, for a namespace outside `AWS/`, `PutMetricData`) can make.
    pub async fn alarm_in_alarm(&self, name: &str, namespace: &str, instance_id: &str, cpu: f64) {
        use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StateValue, Statistic};
        let cw = aws_sdk_cloudwatch::Client::new(&self.sdk);
        let dimension = Dimension::builder().name("InstanceId").value(instance_id).build();
        let alarm = cw
            .put_metric_alarm()
            .alarm_name(name)
            .namespace(namespace)
            .metric_name("CPUUtilization")
            .dimensions(dimension.clone())
            .statistic(Statistic::Average)
            .period(3600);
        idle_below_two_percent(alarm).send().await.expect("alarm");
        let now = std::time::SystemTime::now();
        let data: Vec<MetricDatum> = (0..6u64)
            .map(|k| {
                let at = now - std::time::Duration::from_secs(1800 + 3600 * k);
                MetricDatum::builder()
                    .metric_name("CPUUtilization")
                    .dimensions(dimension.clone())
                    .timestamp(aws_sdk_cloudwatch::primitives::DateTime::from(at))
                    .value(cpu)
                    .build()
            })
            .collect();
        cw.put_metric_data().namespace(namespace).set_metric_data(Some(data)).send().await.expect("metric data");
        cw.set_alarm_state()
            .alarm_name(name)
            .state_value(StateValue::Alarm)
            .state_reason("Threshold Crossed")
            .send()
            .await
            .expect("alarm state");
    }

    /// The fleet-wide idle alarm the contributor samples name (`idle-stop-fleet-cpu`: a Metrics Insights
    /// query, average CPU per instance below 2 % in 3 of the last 6 hours), each instance's CPU over the
    /// last six hours, and the alarm in ALARM as CloudWatch would have it.
    pub async fn fleet_idle_alarm(&self, cpu: &[(&str, f64)]) {
        use aws_sdk_cloudwatch::types::{Dimension, MetricDataQuery, MetricDatum, StateValue};
        let cw = aws_sdk_cloudwatch::Client::new(&self.sdk);
        let query = MetricDataQuery::builder()
            .id("m1")
            .expression(
                "SELECT AVG(CPUUtilization) FROM SCHEMA(\"AWS/EC2\", InstanceId) GROUP BY InstanceId ORDER BY AVG() ASC",
            )
            .period(3600)
            .return_data(true)
            .build();
        let alarm = cw.put_metric_alarm().alarm_name("idle-stop-fleet-cpu").metrics(query);
        idle_below_two_percent(alarm).send().await.expect("alarm");
        let now = std::time::SystemTime::now();
        for (instance_id, value) in cpu {
            let dimension = Dimension::builder().name("InstanceId").value(*instance_id).build();
            let data: Vec<MetricDatum> = (0..6u64)
                .map(|k| {
                    MetricDatum::builder()
                        .metric_name("CPUUtilization")
                        .dimensions(dimension.clone())
                        .timestamp(aws_sdk_cloudwatch::primitives::DateTime::from(
                            now - std::time::Duration::from_secs(1800 + 3600 * k),
                        ))
                        .value(*value)
                        .build()
                })
                .collect();
            cw.put_metric_data().namespace("AWS/EC2").set_metric_data(Some(data)).send().await.expect("metric data");
        }
        cw.set_alarm_state()
            .alarm_name("idle-stop-fleet-cpu")
            .state_value(StateValue::Alarm)
            .state_reason("1 out of 2 time series evaluated to ALARM")
            .send()
            .await
            .expect("alarm state");
    }

    /// A running Fargate task of the `web` task definition in the ECS cluster `prod`, tagged with
    /// `tags`; returns (cluster ARN, task ARN).
    pub async fn ecs_task(&self, tags: &[(&str, &str)]) -> (String, String) {
        use aws_sdk_ecs::types::{ContainerDefinition, LaunchType, Tag};
        let ecs = aws_sdk_ecs::Client::new(&self.sdk);
        let cluster = ecs.create_cluster().cluster_name("prod").send().await.expect("cluster");
        let cluster_arn = cluster.cluster().and_then(|c| c.cluster_arn()).expect("cluster arn").to_owned();
        let container = ContainerDefinition::builder().name("web").image("nginx").memory(128).build();
        ecs.register_task_definition().family("web").container_definitions(container).send().await.expect("task def");
        let mut run = ecs.run_task().cluster("prod").task_definition("web").launch_type(LaunchType::Fargate).count(1);
        for (key, value) in tags {
            run = run.tags(Tag::builder().key(*key).value(*value).build());
        }
        let out = run.send().await.expect("run task");
        let task_arn = out.tasks().first().and_then(|t| t.task_arn()).expect("task arn").to_owned();
        (cluster_arn, task_arn)
    }

    /// ECS's desired status of a task (`RUNNING` or `STOPPED`).
    pub async fn ecs_task_desired_status(&self, cluster: &str, task_arn: &str) -> String {
        let ecs = aws_sdk_ecs::Client::new(&self.sdk);
        let out = ecs.describe_tasks().cluster(cluster).tasks(task_arn).send().await.expect("describe tasks");
        out.tasks().first().and_then(|t| t.desired_status()).unwrap_or_default().to_owned()
    }

    /// A running instance in the web group whose instance profile (named as the role) carries the role
    /// `role`, created with `tags` unless it exists.
    pub async fn launch_with_role(&self, role: &str, tags: &[(&str, &str)]) -> String {
        let instance_id = self.launch(false, false).await.instance_id;
        self.give_role(&instance_id, role, tags).await;
        instance_id
    }

    /// Give the running `instance_id` the instance profile of the role `role` (profile and role created
    /// with `tags` unless they exist).
    pub async fn give_role(&self, instance_id: &str, role: &str, tags: &[(&str, &str)]) {
        let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        self.give_role_trusting(instance_id, role, tags, trust).await;
    }

    /// [`Self::give_role`], the role (when it is created) trusting whom `trust` says.
    pub async fn give_role_trusting(&self, instance_id: &str, role: &str, tags: &[(&str, &str)], trust: &str) {
        let iam = aws_sdk_iam::Client::new(&self.sdk);
        if iam.get_role().role_name(role).send().await.is_err() {
            let mut create = iam.create_role().role_name(role).assume_role_policy_document(trust);
            for (key, value) in tags {
                create = create.tags(aws_sdk_iam::types::Tag::builder().key(*key).value(*value).build().expect("tag"));
            }
            create.send().await.expect("role");
            iam.create_instance_profile().instance_profile_name(role).send().await.expect("profile");
            iam.add_role_to_instance_profile().instance_profile_name(role).role_name(role).send().await.expect("add");
        }
        self.ec2
            .associate_iam_instance_profile()
            .instance_id(instance_id)
            .iam_instance_profile(aws_sdk_ec2::types::IamInstanceProfileSpecification::builder().name(role).build())
            .send()
            .await
            .expect("associate");
    }

    /// The unique id IAM gave `role` (what its sessions' principal ids start with); `None` without it.
    pub async fn role_id(&self, role: &str) -> Option<String> {
        let iam = aws_sdk_iam::Client::new(&self.sdk);
        let out = iam.get_role().role_name(role).send().await.ok()?;
        out.role().map(|r| r.role_id().to_owned())
    }

    /// The document of the inline policy `policy` of `role`, parsed; `None` when there is none.
    pub async fn role_policy(&self, role: &str, policy: &str) -> Option<serde_json::Value> {
        let iam = aws_sdk_iam::Client::new(&self.sdk);
        let out = iam.get_role_policy().role_name(role).policy_name(policy).send().await.ok()?;
        let text = out.policy_document();
        let decoded = firebreak::aws::percent_decode(text);
        Some(serde_json::from_str(&decoded).expect("policy JSON"))
    }

    /// (`HttpEndpoint`, `HttpTokens`) of the instance's metadata options.
    pub async fn metadata_options(&self, instance_id: &str) -> (String, Option<String>) {
        let out = self.ec2.describe_instances().instance_ids(instance_id).send().await.expect("describe");
        let options = out.reservations()[0].instances()[0].metadata_options().expect("metadata options").clone();
        (
            options.http_endpoint().map(|e| e.as_str().to_owned()).unwrap_or_default(),
            options.http_tokens().map(|t| t.as_str().to_owned()),
        )
    }

    /// The state table's item `pk`, if any.
    pub async fn state_item(&self, pk: &str) -> Option<HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
        let dynamodb = aws_sdk_dynamodb::Client::new(&self.sdk);
        let out = dynamodb
            .get_item()
            .table_name(TABLE)
            .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(pk.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .expect("get item");
        out.item().cloned()
    }

    /// A running Spot instance in the web group with one EBS volume.
    pub async fn launch_spot(&self) -> String {
        let spot = aws_sdk_ec2::types::InstanceMarketOptionsRequest::builder()
            .market_type(aws_sdk_ec2::types::MarketType::Spot)
            .build();
        self.run_instance(|run| run.instance_market_options(spot).block_device_mappings(volume("/dev/sda1", 8))).await
    }

    /// One running t3.micro in the subnet and the web group, as `customise` completes the request.
    async fn run_instance(
        &self,
        customise: impl FnOnce(
            aws_sdk_ec2::operation::run_instances::builders::RunInstancesFluentBuilder,
        ) -> aws_sdk_ec2::operation::run_instances::builders::RunInstancesFluentBuilder,
    ) -> String {
        let run = self
            .ec2
            .run_instances()
            .image_id("ami-12345678")
            .instance_type(InstanceType::T3Micro)
            .min_count(1)
            .max_count(1)
            .subnet_id(&self.subnet_id)
            .security_group_ids(&self.web_group);
        let out = customise(run).send().await.expect("run instances");
        out.instances()[0].instance_id().expect("id").to_owned()
    }

    pub async fn tag(&self, resource_id: &str, tags: &[(String, String)]) {
        let tags: Vec<aws_sdk_ec2::types::Tag> =
            tags.iter().map(|(k, v)| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build()).collect();
        self.ec2.create_tags().resources(resource_id).set_tags(Some(tags)).send().await.expect("tags");
    }

    /// A second VPC with a subnet and a group, and an interface there attached to `instance_id`.
    /// Returns (VPC id, interface id).
    pub async fn attach_interface_in_another_vpc(&self, instance_id: &str) -> (String, String) {
        let vpc = self.ec2.create_vpc().cidr_block("10.9.0.0/16").send().await.expect("vpc");
        let vpc = vpc.vpc().and_then(|v| v.vpc_id()).expect("vpc id").to_owned();
        let subnet = self
            .ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block("10.9.1.0/24")
            .availability_zone("us-east-1a")
            .send()
            .await
            .expect("subnet");
        let subnet = subnet.subnet().and_then(|s| s.subnet_id()).expect("subnet id").to_owned();
        let group = self
            .ec2
            .create_security_group()
            .group_name("partner")
            .description("partner")
            .vpc_id(&vpc)
            .send()
            .await
            .expect("group");
        let eni = self
            .ec2
            .create_network_interface()
            .subnet_id(&subnet)
            .groups(group.group_id().expect("group id"))
            .send()
            .await
            .expect("eni");
        let eni = eni.network_interface().and_then(|n| n.network_interface_id()).expect("eni id").to_owned();
        self.ec2
            .attach_network_interface()
            .network_interface_id(&eni)
            .instance_id(instance_id)
            .device_index(1)
            .send()
            .await
            .expect("attach");
        (vpc, eni)
    }

    /// A security group in the VPC allowing SSH from the whole internet, as someone careless left it.
    pub async fn exposed_group(&self, name: &str) -> String {
        let ssh = IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(22)
            .to_port(22)
            .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
            .build();
        self.group_with(name, ssh).await
    }

    /// A security group in the VPC with one ingress permission.
    pub async fn group_with(&self, name: &str, ingress: IpPermission) -> String {
        let id = self
            .ec2
            .create_security_group()
            .group_name(name)
            .description(name)
            .vpc_id(&self.vpc_id)
            .send()
            .await
            .expect("group")
            .group_id()
            .expect("id")
            .to_owned();
        self.ec2
            .authorize_security_group_ingress()
            .group_id(&id)
            .ip_permissions(ingress)
            .send()
            .await
            .expect("ingress");
        id
    }

    /// Each interface of the instance with its groups, as DescribeNetworkInterfaces reports them.
    pub async fn interface_groups(&self, instance_id: &str) -> Vec<(String, Vec<String>)> {
        let out = self
            .ec2
            .describe_network_interfaces()
            .filters(filter("attachment.instance-id", instance_id))
            .send()
            .await
            .expect("enis");
        let mut enis: Vec<(String, Vec<String>)> = out
            .network_interfaces()
            .iter()
            .map(|n| {
                let mut groups: Vec<String> =
                    n.groups().iter().filter_map(|g| g.group_id().map(str::to_owned)).collect();
                groups.sort();
                (n.network_interface_id().unwrap_or_default().to_owned(), groups)
            })
            .collect();
        enis.sort();
        enis
    }

    /// (ingress, egress) sources of a group: every CIDR, group pair and prefix list a rule admits.
    pub async fn rule_counts(&self, group_id: &str) -> (usize, usize) {
        let out = self.ec2.describe_security_groups().group_ids(group_id).send().await.expect("group");
        let g = &out.security_groups()[0];
        let sources = |rules: &[aws_sdk_ec2::types::IpPermission]| -> usize {
            rules
                .iter()
                .map(|p| {
                    p.ip_ranges().len()
                        + p.ipv6_ranges().len()
                        + p.user_id_group_pairs().len()
                        + p.prefix_list_ids().len()
                })
                .sum()
        };
        (sources(g.ip_permissions()), sources(g.ip_permissions_egress()))
    }

    /// The containment groups of `role` recorded in the state table: the only ones Firebreak uses.
    pub async fn recorded_groups(&self, role: &str) -> Vec<String> {
        Self::recorded_groups_in(&aws_sdk_dynamodb::Client::new(&self.sdk), role).await
    }

    /// [`Self::recorded_groups`] through `dynamodb` (for a hook that outlives the world's borrow).
    pub async fn recorded_groups_in(dynamodb: &aws_sdk_dynamodb::Client, role: &str) -> Vec<String> {
        let out = dynamodb.scan().table_name(TABLE).send().await.expect("scan the state table");
        out.items()
            .iter()
            .filter(|item| {
                item.get("pk")
                    .and_then(|v| v.as_s().ok())
                    .is_some_and(|pk| pk.starts_with("group#") && pk.ends_with(role))
            })
            .filter_map(|item| item.get("group_id").and_then(|v| v.as_s().ok()).cloned())
            .collect()
    }

    pub async fn group_by_role(&self, role: &str) -> Vec<String> {
        let out = self
            .ec2
            .describe_security_groups()
            .filters(filter("tag:firebreak:role", role))
            .send()
            .await
            .expect("groups");
        out.security_groups().iter().filter_map(|g| g.group_id().map(str::to_owned)).collect()
    }

    pub async fn volumes(&self, instance_id: &str) -> Vec<String> {
        let out = self
            .ec2
            .describe_volumes()
            .filters(filter("attachment.instance-id", instance_id))
            .send()
            .await
            .expect("volumes");
        out.volumes().iter().filter_map(|v| v.volume_id().map(str::to_owned)).collect()
    }

    /// Snapshots carrying the incident tag, with the volume each was taken of.
    pub async fn incident_snapshots(&self, incident: &str) -> Vec<(String, String)> {
        let out = self
            .ec2
            .describe_snapshots()
            .owner_ids("self")
            .filters(filter("tag:firebreak:incident", incident))
            .send()
            .await
            .expect("snapshots");
        out.snapshots()
            .iter()
            .map(|s| (s.snapshot_id().unwrap_or_default().to_owned(), s.volume_id().unwrap_or_default().to_owned()))
            .collect()
    }

    pub async fn tags(&self, resource_id: &str) -> HashMap<String, String> {
        let out = self.ec2.describe_tags().filters(filter("resource-id", resource_id)).send().await.expect("tags");
        out.tags()
            .iter()
            .map(|t| (t.key().unwrap_or_default().to_owned(), t.value().unwrap_or_default().to_owned()))
            .collect()
    }

    pub async fn instance_state(&self, instance_id: &str) -> String {
        let out = self.ec2.describe_instances().instance_ids(instance_id).send().await.expect("instance");
        let instance = &out.reservations()[0].instances()[0];
        instance.state().and_then(|s| s.name()).map(|n| n.as_str().to_owned()).unwrap_or_default()
    }

    pub async fn termination_protected(&self, instance_id: &str) -> bool {
        let out = self
            .ec2
            .describe_instance_attribute()
            .instance_id(instance_id)
            .attribute(aws_sdk_ec2::types::InstanceAttributeName::DisableApiTermination)
            .send()
            .await
            .expect("attribute");
        out.disable_api_termination().and_then(|v| v.value()).unwrap_or(false)
    }

    pub async fn in_auto_scaling_group(&self, instance_id: &str) -> bool {
        let out = self
            .autoscaling
            .describe_auto_scaling_instances()
            .instance_ids(instance_id)
            .send()
            .await
            .expect("asg instances");
        !out.auto_scaling_instances().is_empty()
    }

    pub async fn target_ids(&self, target_group_arn: &str) -> Vec<String> {
        let out = self.elb.describe_target_health().target_group_arn(target_group_arn).send().await.expect("health");
        out.target_health_descriptions()
            .iter()
            .filter_map(|d| d.target().and_then(|t| t.id()).map(str::to_owned))
            .collect()
    }

    /// Every message the subscribed queue holds now, as the SNS envelopes SQS received.
    pub async fn notifications(&self) -> Vec<serde_json::Value> {
        let mut messages = Vec::new();
        loop {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .send()
                .await
                .expect("receive");
            if out.messages().is_empty() {
                break;
            }
            for m in out.messages() {
                messages.push(serde_json::from_str(m.body().unwrap_or("{}")).expect("SNS envelope"));
                if let Some(handle) = m.receipt_handle() {
                    self.sqs
                        .delete_message()
                        .queue_url(&self.queue_url)
                        .receipt_handle(handle)
                        .send()
                        .await
                        .expect("delete");
                }
            }
        }
        messages
    }
}

/// The idle alarms' judgement: below 2 % in 3 of the last 6 periods.
fn idle_below_two_percent(
    alarm: aws_sdk_cloudwatch::operation::put_metric_alarm::builders::PutMetricAlarmFluentBuilder,
) -> aws_sdk_cloudwatch::operation::put_metric_alarm::builders::PutMetricAlarmFluentBuilder {
    alarm
        .evaluation_periods(6)
        .datapoints_to_alarm(3)
        .threshold(2.0)
        .comparison_operator(aws_sdk_cloudwatch::types::ComparisonOperator::LessThanThreshold)
}

/// An EBS volume of `size` GiB at `device`.
fn volume(device: &str, size: i32) -> BlockDeviceMapping {
    BlockDeviceMapping::builder().device_name(device).ebs(EbsBlockDevice::builder().volume_size(size).build()).build()
}

/// The state table as template.yaml declares it (keys, attributes, indexes), read once per process.
fn state_table_properties() -> &'static serde_json::Value {
    static PROPERTIES: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    PROPERTIES.get_or_init(|| crate::iam::decode("template.yaml")["Resources"]["StateTable"]["Properties"].clone())
}

fn key_schema(keys: &serde_json::Value) -> Vec<KeySchemaElement> {
    keys.as_array()
        .expect("a key schema")
        .iter()
        .map(|k| {
            let kind = if k["KeyType"] == "HASH" { KeyType::Hash } else { KeyType::Range };
            KeySchemaElement::builder()
                .attribute_name(k["AttributeName"].as_str().expect("name"))
                .key_type(kind)
                .build()
                .expect("key")
        })
        .collect()
}

/// Create the state table in the emulator exactly as the template declares it.
pub async fn create_state_table(ddb: &aws_sdk_dynamodb::Client) {
    let p = state_table_properties();
    let attributes = p["AttributeDefinitions"].as_array().expect("attributes").iter().map(|a| {
        AttributeDefinition::builder()
            .attribute_name(a["AttributeName"].as_str().expect("name"))
            .attribute_type(ScalarAttributeType::from(a["AttributeType"].as_str().expect("type")))
            .build()
            .expect("attr")
    });
    let indexes = p["GlobalSecondaryIndexes"].as_array().into_iter().flatten().map(|i| {
        GlobalSecondaryIndex::builder()
            .index_name(i["IndexName"].as_str().expect("index name"))
            .set_key_schema(Some(key_schema(&i["KeySchema"])))
            .projection(Projection::builder().projection_type(ProjectionType::All).build())
            .build()
            .expect("index")
    });
    ddb.create_table()
        .table_name(TABLE)
        .set_attribute_definitions(Some(attributes.collect()))
        .set_key_schema(Some(key_schema(&p["KeySchema"])))
        .set_global_secondary_indexes(Some(indexes.collect()).filter(|v: &Vec<_>| !v.is_empty()))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("table");
}
