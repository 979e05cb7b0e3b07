"""Budget: a monthly budget of the environment's project, alerting by e-mail at thresholds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp
from pulumi_gcp import billing

from infra.components import child_options


@dataclass(frozen=True)
class BudgetArgs:
    """Inputs of :class:`Budget`."""

    project: str
    """Project the budget covers; its quota is charged for the Budget API calls."""
    billing_account: str
    """Billing account id: three dash-separated groups of six hex digits, e.g. ``01A2B3-C4D5E6-F7A8B9``."""
    project_number: pulumi.Input[str]
    """Number of the project the budget covers."""
    environment: str
    """Environment name (in the budget's display name)."""
    amount: float
    """Monthly amount."""
    currency: str = "EUR"
    """ISO currency code of the billing account."""
    thresholds: tuple[float, ...] = (0.5, 0.9, 1.0)
    """Fractions of the amount that alert (1.0 = the whole budget)."""
    notification_channels: pulumi.Input[Sequence[pulumi.Input[str]]] = ()
    """Monitoring notification channels that receive the alerts."""


class Budget(pulumi.ComponentResource):
    """Alerts on current and forecast spend; budgets never stop spending by themselves."""

    def __init__(
        self, name: str, args: BudgetArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops-kit:gcp:Budget", name, None, opts)
        # The Budget API refuses user credentials (gcloud auth application-default login) unless
        # the call names a quota project: this provider sends the environment's project.
        provider = gcp.Provider(
            f"{name}-billing",
            project=args.project,
            billing_project=args.project,
            user_project_override=True,
            opts=child_options(self, opts),
        )
        units = int(args.amount)
        nanos = round((args.amount - units) * 1e9)
        budget = billing.Budget(
            f"{name}-budget",
            billing_account=args.billing_account,
            display_name=f"mlops-kit {args.environment}",
            budget_filter=billing.BudgetBudgetFilterArgs(
                projects=[pulumi.Output.concat("projects/", args.project_number)],
                calendar_period="MONTH",
            ),
            amount=billing.BudgetAmountArgs(
                specified_amount=billing.BudgetAmountSpecifiedAmountArgs(
                    currency_code=args.currency, units=str(units), nanos=nanos
                )
            ),
            threshold_rules=[
                billing.BudgetThresholdRuleArgs(threshold_percent=t, spend_basis="CURRENT_SPEND")
                for t in args.thresholds
            ]
            # A forecast crossing the full budget warns before the money is spent.
            + [
                billing.BudgetThresholdRuleArgs(
                    threshold_percent=1.0, spend_basis="FORECASTED_SPEND"
                )
            ],
            all_updates_rule=billing.BudgetAllUpdatesRuleArgs(
                monitoring_notification_channels=args.notification_channels,
                disable_default_iam_recipients=False,
            ),
            opts=child_options(self, opts, provider=provider),
        )
        self.register_outputs({"budget": budget.name})
