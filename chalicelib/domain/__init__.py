"""The rules of the product, with no AWS in them: entitlements, subscriptions, releases, fan-out, delivery, recalls, downloads, reports and the emails; adapters arrive as arguments."""
