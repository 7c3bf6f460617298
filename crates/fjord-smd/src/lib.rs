//! Structured merge and diff for Kubernetes objects (placeholder; being written).
