//! The results of a scenario: a table on the terminal and the same figures as JSON.

use serde_json::{json, Map, Value};

pub struct Report {
    pub scenario: String,
    pub params: Value,
    pub rows: Vec<(String, Value)>,
}

impl Report {
    pub fn new(scenario: &str, params: Value) -> Self {
        Self {
            scenario: scenario.to_string(),
            params,
            rows: Vec::new(),
        }
    }

    pub fn add(&mut self, name: &str, value: impl Into<Value>) {
        self.rows.push((name.to_string(), value.into()));
    }

    pub fn print(&self) {
        println!();
        println!("scenario {}  {}", self.scenario, self.params);
        let width = self.rows.iter().map(|(n, _)| n.len()).max().unwrap_or(10);
        for (name, value) in &self.rows {
            let shown = match value {
                Value::Number(n) if n.is_f64() => format!("{:.3}", n.as_f64().unwrap_or(0.0)),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            println!("  {name:<width$}  {shown}");
        }
    }

    pub fn to_json(&self) -> Value {
        let results: Map<String, Value> = self.rows.iter().cloned().collect();
        json!({ "scenario": self.scenario, "params": self.params, "results": results })
    }
}
