# Break-glass unrescue, whoever rescued the instance:
#   terraform apply -invoke=action.rescue_unrescue.web
action "rescue_unrescue" "web" {
  config {
    instance_id = "8c1e0f4a-3b0c-4d4e-9a55-0a3a3c1d2e11"
    # Another run of the provider rescuing or unrescuing it right now holds its lease: wait
    # for that run (within timeout) instead of refusing at once.
    wait_for_lease = true
    timeout        = "20m"
  }
}
