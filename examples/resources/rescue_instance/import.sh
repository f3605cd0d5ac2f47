# An instance that is already in rescue can be imported by its id
# (Nova server UUID, or libvirt domain name or UUID).
terraform import rescue_instance.web 8c1e0f4a-3b0c-4d4e-9a55-0a3a3c1d2e11
