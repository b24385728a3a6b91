//! What the tenant manager emits through `cache_core::metrics`: the
//! live-tenants gauge, creations and evictions by cause (`lru`, `idle`),
//! with the tenant id as a label only when opted in (and capped).

use cache_core::metrics::{self, TenantLabels, labels, names};

/// The manager's metrics and its (opt-in) tenant labels.
#[derive(Debug)]
pub(crate) struct TenantMetrics {
    tenant_labels: TenantLabels,
}

impl TenantMetrics {
    /// Tenant labels for at most `cap` tenants (0: no tenant label).
    pub(crate) fn new(cap: usize) -> Self {
        TenantMetrics {
            tenant_labels: TenantLabels::new(cap),
        }
    }

    /// One tenant cache created.
    pub(crate) fn created(&self, tenant: &str) {
        match self.tenant_labels.label(tenant) {
            Some(id) => metrics::count(names::TENANTS_CREATED, &[(labels::TENANT, id)]),
            None => metrics::count(names::TENANTS_CREATED, &[]),
        }
    }

    /// One tenant cache evicted for `cause` (`lru` or `idle`).
    pub(crate) fn evicted(&self, tenant: &str, cause: &'static str) {
        let cause = (labels::CAUSE, cause);
        match self.tenant_labels.label(tenant) {
            Some(id) => metrics::count(names::TENANTS_EVICTED, &[cause, (labels::TENANT, id)]),
            None => metrics::count(names::TENANTS_EVICTED, &[cause]),
        }
    }

    /// `delta` tenants entered (or, negative, left) the map. Deltas rather
    /// than a value: every manager of the process feeds the one gauge.
    pub(crate) fn live(&self, delta: usize, entered: bool) {
        let delta = delta as f64;
        let delta = if entered { delta } else { -delta };
        metrics::gauge_add(names::TENANTS_LIVE, &[], delta);
    }
}
