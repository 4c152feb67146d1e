//! EC2's side of the simulated fleet: `DescribeInstances` over the EC2 query protocol (form-encoded
//! `Action=DescribeInstances`, XML answer), listing the simulated managed instances that have EC2 ids.
//!
//! Without it, a fleet of 500,000 instances exists only in Systems Manager, and nothing that joins the
//! two services' listings (the snapshot's coverage and grouping) can be measured at that scale:
//! LocalStack cannot hold such a fleet. Pointed at with `AWS_ENDPOINT_URL_EC2` (ledger row 35).

use std::fmt::Write as _;

use crate::state::{Instance, State};

/// `MaxResults` bounds (EC2 API reference, DescribeInstances: 5 to 1,000).
const PAGE_MIN: usize = 5;
const PAGE_MAX: usize = 1000;

/// An EC2 query-protocol error: HTTP 400 and the code EC2 gives.
#[derive(Debug, Clone, PartialEq)]
pub struct Ec2Error {
    pub code: &'static str,
    pub message: String,
}

impl Ec2Error {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// The error document EC2 answers with (`Response/Errors/Error`).
    pub fn to_xml(&self, request_id: &str) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{}</Code><Message>{}</Message></Error></Errors><RequestID>{}</RequestID></Response>",
            self.code,
            escape(&self.message),
            escape(request_id)
        )
    }
}

/// Whether `body` is an EC2 query request (the SSM protocol sends JSON with `X-Amz-Target`).
pub fn is_query_request(body: &[u8]) -> bool {
    body.starts_with(b"Action=") || body.windows(8).any(|w| w == b"&Action=")
}

/// The form's fields, decoded, in order.
pub fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(key), decode(value))
        })
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The state EC2 reports for a simulated managed instance: one whose agent lost its connection is
/// taken as stopped (the common cause), every other as running.
fn state_of(instance: &Instance) -> (u8, &'static str) {
    if instance.ping_status == "ConnectionLost" {
        (80, "stopped")
    } else {
        (16, "running")
    }
}

/// Answers one query request; returns the operation's name (for the statistics) and the XML body or
/// the error.
pub fn handle(state: &State, form: &[(String, String)]) -> (String, Result<String, Ec2Error>) {
    let field = |name: &str| {
        form.iter()
            .find(|(key, _)| key == name)
            .map(|(_, v)| v.as_str())
    };
    let action = field("Action").unwrap_or_default().to_owned();
    let operation = format!("ec2:{action}");
    if action != "DescribeInstances" {
        return (
            operation,
            Err(Ec2Error::new(
                "InvalidAction",
                format!("The action {action} is not valid for this web service."),
            )),
        );
    }
    (operation, describe_instances(state, form, field))
}

fn describe_instances<'a>(
    state: &State,
    form: &'a [(String, String)],
    field: impl Fn(&str) -> Option<&'a str>,
) -> Result<String, Ec2Error> {
    let page = match field("MaxResults") {
        None => None,
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (PAGE_MIN..=PAGE_MAX).contains(&n) => Some(n),
            _ => {
                return Err(Ec2Error::new(
                    "InvalidParameterValue",
                    format!(
                        "Value ( {text} ) for parameter maxResults is invalid. Expecting a value between 5 and 1000."
                    ),
                ));
            }
        },
    };
    let states = state_filter(form)?;
    let start = match field("NextToken") {
        None => 0,
        Some(token) => token
            .strip_prefix("sim-ec2-")
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| {
                Ec2Error::new(
                    "InvalidParameterValue",
                    format!("Invalid value '{token}' for nextToken"),
                )
            })?,
    };
    let listed = state
        .instances
        .values()
        .filter(|instance| instance.id.starts_with("i-"))
        .filter(|instance| {
            states
                .as_ref()
                .is_none_or(|s| s.iter().any(|name| name == state_of(instance).1))
        });
    // Without MaxResults EC2 answers everything in one page; with it, pages of that size.
    let size = page.unwrap_or(usize::MAX);
    let mut xml = String::with_capacity(256 + page.unwrap_or(64).min(PAGE_MAX) * 420);
    xml.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeInstancesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>sim-ec2</requestId><reservationSet>");
    let mut served = 0;
    let mut more = false;
    for instance in listed.skip(start) {
        if served == size {
            more = true;
            break;
        }
        served += 1;
        reservation(&mut xml, &state.account, instance);
    }
    xml.push_str("</reservationSet>");
    if more {
        let _ = write!(xml, "<nextToken>sim-ec2-{}</nextToken>", start + served);
    }
    xml.push_str("</DescribeInstancesResponse>");
    Ok(xml)
}

/// `Filter.N.Name=instance-state-name` with its `Filter.N.Value.M`; any other filter is refused (the
/// simulator models no other, and answering it unfiltered would mislead the caller).
fn state_filter(form: &[(String, String)]) -> Result<Option<Vec<String>>, Ec2Error> {
    let mut states: Option<Vec<String>> = None;
    for (key, name) in form {
        let Some(index) = key
            .strip_prefix("Filter.")
            .and_then(|rest| rest.strip_suffix(".Name"))
        else {
            continue;
        };
        if name != "instance-state-name" {
            return Err(Ec2Error::new(
                "InvalidParameterValue",
                format!("The simulator does not model the filter '{name}'"),
            ));
        }
        let prefix = format!("Filter.{index}.Value.");
        states.get_or_insert_with(Vec::new).extend(
            form.iter()
                .filter(|(k, _)| k.starts_with(&prefix))
                .map(|(_, v)| v.clone()),
        );
    }
    Ok(states)
}

/// One reservation holding one instance: what a reader of the fleet needs (id, state, tags, platform
/// details), in EC2's element names.
fn reservation(xml: &mut String, account: &str, instance: &Instance) {
    let (code, name) = state_of(instance);
    let suffix = instance.id.trim_start_matches("i-");
    let _ = write!(
        xml,
        "<item><reservationId>r-{suffix}</reservationId><ownerId>{}</ownerId><groupSet/><instancesSet><item><instanceId>{}</instanceId><instanceState><code>{code}</code><name>{name}</name></instanceState><privateIpAddress>{}</privateIpAddress><tagSet>",
        escape(account),
        escape(&instance.id),
        escape(&instance.ip_address),
    );
    let implied = instance
        .patch_group
        .as_ref()
        .filter(|_| {
            !instance.tags.contains_key("Patch Group") && !instance.tags.contains_key("PatchGroup")
        })
        .map(|group| ("Patch Group".to_owned(), group.clone()));
    // The same tags Systems Manager's tag filters see (`ops::instances`): the patch group under the key
    // the instance's tags use, else `Patch Group`.
    for (key, value) in instance
        .tags
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .chain(implied)
    {
        let (key, value) = (&key, &value);
        let _ = write!(
            xml,
            "<item><key>{}</key><value>{}</value></item>",
            escape(key),
            escape(value)
        );
    }
    xml.push_str("</tagSet></item></instancesSet></item>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_is_decoded() {
        let form = parse_form(b"Action=DescribeInstances&Filter.1.Value.1=a+b%2Fc&Empty=");
        assert_eq!(
            form,
            vec![
                ("Action".to_owned(), "DescribeInstances".to_owned()),
                ("Filter.1.Value.1".to_owned(), "a b/c".to_owned()),
                ("Empty".to_owned(), String::new()),
            ]
        );
        assert!(is_query_request(
            b"Action=DescribeInstances&Version=2016-11-15"
        ));
        assert!(!is_query_request(b"{\"Filters\": []}"));
    }

    #[test]
    fn markup_in_values_is_escaped() {
        assert_eq!(escape("a<b>&\"c\""), "a&lt;b&gt;&amp;&quot;c&quot;");
    }
}
