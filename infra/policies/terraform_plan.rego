# A sample of an organisation's own rules, run by conftest on the Terraform plan export:
#
#   mlops-kit infra export --env prod --format terraform-plan -o plan-prod.json
#   conftest test --policy infra/policies plan-prod.json
#
# conftest evaluates every `deny` rule of package `main`; each message is one failure. Copy this file
# next to your own rules and change the lists: they are this organisation's, not Google's.
# Messages are built with concat, not sprintf's %s, so that every Rego engine prints them alike.
package main

import rego.v1

# Where data at rest must be encrypted with the organisation's keys, and the path of the key.
cmek_key_paths := {
	"google_storage_bucket": ["encryption", 0, "default_kms_key_name"],
	"google_bigquery_dataset": ["default_encryption_configuration", 0, "kms_key_name"],
	"google_bigquery_table": ["encryption_configuration", 0, "kms_key_name"],
	"google_sql_database_instance": ["encryption_key_name"],
}

# Labels finance allocates costs by.
required_labels := {"cost-center", "team", "env"}

created contains change if {
	some change in input.resource_changes
	"create" in change.change.actions
}

deny contains msg if {
	some change in created
	path := cmek_key_paths[change.type]
	not has_key(change, path)
	key := concat(".", [sprintf("%v", [p]) | p := path[_]])
	msg := concat("", [change.address, ": data at rest must use a customer-managed key (", key, ")"])
}

deny contains msg if {
	some change in created
	labels := resource_labels(change.change.after)
	missing := required_labels - {key | labels[key]}
	count(missing) > 0
	msg := concat("", [change.address, ": no ", concat(", ", sort(missing)), " label"])
}

# The resource's own labels: Cloud Monitoring and Cloud SQL call them user_labels (a notification
# channel's `labels` configure the channel), GKE resource_labels.
resource_labels(after) := after.user_labels if {
	after.user_labels
} else := after.resource_labels if {
	after.resource_labels
} else := after.labels

# A key is set when the plan knows it, or when it is only known after apply (a key created in the
# same plan).
has_key(change, path) if {
	value := object.get(change.change.after, path, "")
	value != ""
	value != null
}

has_key(change, path) if object.get(change.change.after_unknown, path, false) == true
