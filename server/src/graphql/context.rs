//! What an operation knows besides its schema data: who is asking ([`Caller`], request data
//! set per operation by `POST /graphql` and by the socket).

use std::sync::Arc;

use taina_protocol::ErrorCode;

use super::GqlError;
use crate::contexts::auth::{ClientInfo, Principal};
use crate::socket::SocketLink;

/// Who is asking: a verified principal, or nobody (only `signIn` works then).
#[derive(Clone, Debug, Default)]
pub struct Caller {
    pub principal: Option<Principal>,
    pub client: ClientInfo,
    /// The socket an operation arrived on (none over HTTP), for `refreshToken`.
    pub socket: Option<Arc<SocketLink>>,
}

/// The signed-in principal, or an `unauthenticated` error.
pub fn principal<'a>(ctx: &async_graphql::Context<'a>) -> Result<&'a Principal, GqlError> {
    let principal = ctx
        .data::<Caller>()
        .ok()
        .and_then(|caller| caller.principal.as_ref())
        .ok_or_else(|| GqlError::new(ErrorCode::Unauthenticated, "sign in first"))?;
    if principal.role == crate::contexts::auth::Role::Device {
        return Err(GqlError::new(
            ErrorCode::Forbidden,
            "a device token speaks only on its device:{id} topic",
        ));
    }
    Ok(principal)
}
