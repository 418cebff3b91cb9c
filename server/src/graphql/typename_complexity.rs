//! Counts `__typename` selections toward the complexity limit. async-graphql's complexity
//! visitor does not visit `__typename` at all, so a query of a hundred thousand aliased
//! `__typename`s passed a limit of 500 and made the server build as many response entries.
//! Here each one costs a point like any other field, fragments included (each fragment's
//! count is computed once, so fragments spreading fragments cannot blow the count up).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextValidation,
};
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Selection, SelectionSet,
};
use async_graphql::{ServerError, ServerResult, ValidationResult, Variables};

/// Adds the `__typename` count to the complexity async-graphql computed, against `limit`.
pub struct TypenameComplexity {
    pub limit: usize,
}

impl ExtensionFactory for TypenameComplexity {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Counter {
            limit: self.limit,
            typenames: AtomicUsize::new(0),
        })
    }
}

struct Counter {
    limit: usize,
    /// `__typename` selections in the request's document, set once it is parsed.
    typenames: AtomicUsize,
}

#[async_trait::async_trait]
impl Extension for Counter {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        self.typenames
            .store(count_typenames(&document), Ordering::Relaxed);
        Ok(document)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let mut result = next.run(ctx).await?;
        result.complexity = result
            .complexity
            .saturating_add(self.typenames.load(Ordering::Relaxed));
        if result.complexity > self.limit {
            // async-graphql's own wording for the same refusal.
            return Err(vec![ServerError::new("Query is too complex.", None)]);
        }
        Ok(result)
    }
}

/// `__typename` selections in every operation, with fragment spreads expanded.
fn count_typenames(document: &ExecutableDocument) -> usize {
    let mut fragments = HashMap::new();
    let operations: Vec<&SelectionSet> = match &document.operations {
        DocumentOperations::Single(op) => vec![&op.node.selection_set.node],
        DocumentOperations::Multiple(ops) => {
            ops.values().map(|op| &op.node.selection_set.node).collect()
        }
    };
    operations.into_iter().fold(0usize, |total, set| {
        total.saturating_add(in_selection_set(document, set, &mut fragments))
    })
}

/// Per fragment name: `None` while it is being counted (a cycle counts nothing; validation
/// refuses cyclic fragments anyway), then its count.
type FragmentCounts = HashMap<String, Option<usize>>;

fn in_selection_set(
    document: &ExecutableDocument,
    set: &SelectionSet,
    fragments: &mut FragmentCounts,
) -> usize {
    set.items.iter().fold(0usize, |total, item| {
        let count = match &item.node {
            Selection::Field(field) => {
                let own = usize::from(field.node.name.node == "__typename");
                own.saturating_add(in_selection_set(
                    document,
                    &field.node.selection_set.node,
                    fragments,
                ))
            }
            Selection::InlineFragment(inline) => {
                in_selection_set(document, &inline.node.selection_set.node, fragments)
            }
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.as_str();
                match fragments.get(name) {
                    Some(known) => known.unwrap_or(0),
                    None => {
                        fragments.insert(name.to_string(), None);
                        let count = document
                            .fragments
                            .get(name)
                            .map(|f| {
                                in_selection_set(document, &f.node.selection_set.node, fragments)
                            })
                            .unwrap_or(0);
                        fragments.insert(name.to_string(), Some(count));
                        count
                    }
                }
            }
        };
        total.saturating_add(count)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(query: &str) -> usize {
        count_typenames(&async_graphql::parser::parse_query(query).unwrap())
    }

    #[test]
    fn aliases_fragments_and_nesting_all_count() {
        assert_eq!(
            count("{ a: __typename b: __typename me { __typename id } }"),
            3
        );
        assert_eq!(
            count("query { ...F ...F } fragment F on Query { __typename x: __typename }"),
            4
        );
        assert_eq!(count("{ ... on Query { __typename } }"), 1);
        assert_eq!(count("{ me { id } }"), 0);
    }

    #[test]
    fn fragment_chains_are_counted_once_each() {
        // Each fragment spreads the next twice: expanded naively this doubles per level.
        let mut query = String::from("query { ...F0 }");
        for level in 0..60 {
            query.push_str(&format!(
                " fragment F{level} on Query {{ __typename ...F{next} ...F{next} }}",
                next = level + 1
            ));
        }
        query.push_str(" fragment F60 on Query { __typename }");
        assert!(count(&query) > 60);
    }
}
