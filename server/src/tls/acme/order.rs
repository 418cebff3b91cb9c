//! One ACME order, start to finish: TLS-ALPN-01 for every name (answered by the certificate
//! slot while the CA checks), then the CSR, then the chain.

use std::time::Duration;

use instant_acme::{
    Account, AuthorizationStatus, ChallengeType, Identifier, NewOrder, OrderStatus, RetryPolicy,
};

use super::super::CertificateSlot;
use super::challenge::validation_pair;
use super::store::Issued;
use super::AcmeError;

/// How long the CA may take to check the names, then to sign.
const CA_PATIENCE: Duration = Duration::from_secs(180);

pub async fn order(
    account: &Account,
    domains: &[String],
    slot: &CertificateSlot,
) -> Result<Issued, AcmeError> {
    let identifiers: Vec<Identifier> = domains.iter().cloned().map(Identifier::Dns).collect();
    let mut order = account.new_order(&NewOrder::new(&identifiers)).await?;
    let result = validate(&mut order, slot).await;
    // The validation certificates answer only while the CA checks.
    slot.clear_challenges();
    result?;
    let key = order.finalize().await?;
    let chain = order
        .poll_certificate(&patient())
        .await
        .map_err(AcmeError::Acme)?;
    Ok(Issued { chain, key })
}

fn patient() -> RetryPolicy {
    RetryPolicy::new()
        .initial_delay(Duration::from_millis(500))
        .backoff(1.5)
        .timeout(CA_PATIENCE)
}

async fn validate(
    order: &mut instant_acme::Order,
    slot: &CertificateSlot,
) -> Result<(), AcmeError> {
    let mut authorizations = order.authorizations();
    while let Some(authorization) = authorizations.next().await {
        let mut authorization = authorization?;
        match authorization.status {
            AuthorizationStatus::Pending => {}
            // Proved recently for this account: the CA does not ask again.
            AuthorizationStatus::Valid => continue,
            status => {
                return Err(AcmeError::Refused(format!(
                    "the authorization for {} is {status:?}",
                    authorization.identifier()
                )))
            }
        }
        let domain = authorization.identifier().to_string();
        let mut challenge = authorization
            .challenge(ChallengeType::TlsAlpn01)
            .ok_or_else(|| {
                AcmeError::Refused(format!("the CA offers no TLS-ALPN-01 check for {domain}"))
            })?;
        let digest = challenge.key_authorization().digest();
        let pair = validation_pair(&domain, digest.as_ref()).map_err(AcmeError::Certificate)?;
        slot.set_challenge(&domain, pair);
        challenge.set_ready().await?;
    }
    match order.poll_ready(&patient()).await? {
        OrderStatus::Ready => Ok(()),
        status => Err(AcmeError::Refused(why_not(order, status).await)),
    }
}

/// The CA's own words for each name it could not check.
async fn why_not(order: &mut instant_acme::Order, status: OrderStatus) -> String {
    let mut reasons = Vec::new();
    let mut authorizations = order.authorizations();
    while let Some(Ok(mut authorization)) = authorizations.next().await {
        let domain = authorization.identifier().to_string();
        if let Ok(state) = authorization.refresh().await {
            reasons.extend(
                state
                    .challenges
                    .iter()
                    .filter_map(|c| c.error.as_ref())
                    .map(|problem| format!("{domain}: {problem}")),
            );
        }
    }
    if reasons.is_empty() {
        format!("the order ended {status:?}")
    } else {
        format!("the order ended {status:?}: {}", reasons.join("; "))
    }
}
