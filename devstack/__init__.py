"""The no-Docker local stack: `template.yaml` brought up on one machine (see README, "Local stack")."""
