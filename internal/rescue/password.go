package rescue

// PasswordMaker is implemented by backends whose rescue without a password still gets one
// (Nova: made by the provider and given to Nova, returned in Result.AdminPass). A caller that
// cannot keep Result.AdminPass (a Terraform action has no outputs) must then give a password.
type PasswordMaker interface {
	// MakesPassword reports whether a rescue without AdminPass gets a password of its own.
	MakesPassword() bool
}
