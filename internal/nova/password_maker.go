package nova

import "github.com/rescue-labs/terraform-provider-rescue/internal/rescue"

var _ rescue.PasswordMaker = (*Backend)(nil)

// MakesPassword implements rescue.PasswordMaker: a rescue without admin_pass gets a password
// made by the provider (Nova would make one itself), which only Result.AdminPass tells.
func (b *Backend) MakesPassword() bool { return true }
