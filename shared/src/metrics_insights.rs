//! The little of CloudWatch Metrics Insights' SQL that Firebreak reads: which metric, statistic and
//! namespace a multi-time-series alarm watches, and what it groups by (its contributors' attributes).
//! `SELECT FUNCTION(metric) FROM namespace | SCHEMA(namespace, keys…) [WHERE …] [GROUP BY keys…]
//! [ORDER BY …] [LIMIT n]`, as the CloudWatch User Guide's Metrics Insights query grammar has it.

/// What a Metrics Insights query watches. `None` fields were not recognised; nothing is guessed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// `AVG`, `MIN`, `MAX`, `SUM` or `COUNT`, upper-cased.
    pub function: String,
    pub metric: String,
    pub namespace: String,
    pub group_by: Vec<String>,
}

impl Query {
    pub fn parse(sql: &str) -> Option<Self> {
        let upper = sql.to_ascii_uppercase();
        let select = upper.find("SELECT")? + "SELECT".len();
        let from = upper.find(" FROM ")?;
        let (function, metric) = call(sql[select..from].trim())?;
        let after_from = &sql[from + " FROM ".len()..];
        let end = ["WHERE", "GROUP BY", "ORDER BY", "LIMIT"]
            .iter()
            .filter_map(|k| keyword(after_from, k))
            .min()
            .unwrap_or(after_from.len());
        let source = after_from[..end].trim();
        let namespace = match call(source) {
            Some((schema, args)) if schema == "SCHEMA" => unquote(args.split(',').next()?.trim()),
            _ => unquote(source),
        };
        let group_by = keyword(after_from, "GROUP BY")
            .map(|at| {
                let rest = &after_from[at + "GROUP BY".len()..];
                let end = ["ORDER BY", "LIMIT"].iter().filter_map(|k| keyword(rest, k)).min().unwrap_or(rest.len());
                rest[..end].split(',').map(|k| unquote(k.trim())).filter(|k| !k.is_empty()).collect()
            })
            .unwrap_or_default();
        let function = function.to_ascii_uppercase();
        let known = matches!(function.as_str(), "AVG" | "MIN" | "MAX" | "SUM" | "COUNT");
        (known && !metric.is_empty() && !namespace.is_empty()).then(|| Self {
            function,
            metric: unquote(metric.trim()),
            namespace,
            group_by,
        })
    }

    /// The CloudWatch statistic the function computes per period.
    pub fn statistic(&self) -> &'static str {
        match self.function.as_str() {
            "MIN" => "Minimum",
            "MAX" => "Maximum",
            "SUM" => "Sum",
            "COUNT" => "SampleCount",
            _ => "Average",
        }
    }

    /// One time series per instance: each contributor is an instance.
    pub fn per_instance(&self) -> bool {
        self.group_by.iter().any(|k| k == "InstanceId")
    }
}

/// `NAME(args)` → `(NAME, args)`.
fn call(text: &str) -> Option<(String, &str)> {
    let open = text.find('(')?;
    let args = text[open + 1..].strip_suffix(')')?;
    Some((text[..open].trim().to_ascii_uppercase(), args))
}

fn unquote(text: &str) -> String {
    text.trim_matches(|c| c == '"' || c == '\'').to_owned()
}

/// Where `word` starts as a keyword (case-insensitive, outside quotes) in `text`.
fn keyword(text: &str, word: &str) -> Option<usize> {
    let upper = text.to_ascii_uppercase();
    let mut quoted = false;
    for (at, c) in text.char_indices() {
        if c == '"' || c == '\'' {
            quoted = !quoted;
        }
        if !quoted && upper[at..].starts_with(word) {
            let before = upper[..at].chars().next_back().is_none_or(|c| c.is_whitespace());
            if before {
                return Some(at);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_query_shapes_are_read() {
        // The CloudWatch EventBridge reference's multi-time-series example.
        let q = Query::parse(
            "SELECT AVG(ConsumedWriteCapacityUnits) FROM \"AWS/DynamoDB\" GROUP BY TableName ORDER BY MAX() DESC",
        )
        .expect("parses");
        assert_eq!(
            (q.function.as_str(), q.metric.as_str(), q.namespace.as_str()),
            ("AVG", "ConsumedWriteCapacityUnits", "AWS/DynamoDB")
        );
        assert_eq!(q.group_by, ["TableName"]);
        assert!(!q.per_instance());

        let q = Query::parse("SELECT MAX(CPUUtilization) FROM SCHEMA(\"AWS/EC2\", InstanceId) WHERE InstanceType = 't3.micro' GROUP BY InstanceId LIMIT 100")
            .expect("parses");
        assert_eq!((q.metric.as_str(), q.namespace.as_str(), q.statistic()), ("CPUUtilization", "AWS/EC2", "Maximum"));
        assert_eq!(q.group_by, ["InstanceId"]);
        assert!(q.per_instance());

        let q = Query::parse("select avg(NetworkOut) from AWS/EC2 group by InstanceId, AutoScalingGroupName")
            .expect("parses");
        assert_eq!(q.group_by, ["InstanceId", "AutoScalingGroupName"]);
        assert_eq!(q.statistic(), "Average");
    }

    #[test]
    fn what_is_not_a_metrics_insights_query_is_not_guessed_at() {
        assert_eq!(Query::parse("SUM(METRICS())"), None);
        assert_eq!(Query::parse("SELECT PERCENTILE(CPUUtilization) FROM AWS/EC2"), None);
        assert_eq!(Query::parse(""), None);
    }
}
