package nova

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"

	"github.com/rescue-labs/terraform-provider-rescue/internal/rescue"
)

func TestStripHTML(t *testing.T) {
	for in, want := range map[string]string{
		// Glance's webob answer (plain text with the HTML line breaks left in).
		"404 Not Found\n\nThe resource could not be found.<br /><br />\nNo image found with ID x\n\n":                                                                                                                                     "404 Not Found The resource could not be found. No image found with ID x",
		"<html>\n <head>\n  <title>503 Service Unavailable</title>\n </head>\n <body>\n  <h1>503 Service Unavailable</h1>\n  The server is currently unavailable. Please try again at a later time.<br /><br />\n\n\n\n </body>\n</html>": "503 Service Unavailable The server is currently unavailable. Please try again at a later time.",
		"Image &lt;x&gt; is <b>gone</b>":              "Image <x> is gone",
		"Invalid input: <class 'str'> is not allowed": "Invalid input: <class 'str'> is not allowed",
		"a  b\nc": "a  b\nc",
	} {
		if got := stripHTML(in); got != want {
			t.Errorf("stripHTML(%q) = %q, want %q", in, got, want)
		}
	}
	if got := serverMessage([]byte(`{"itemNotFound": {"code": 404, "message": "The resource could not be found.<br /><br />\n\n\n"}}`)); got != "The resource could not be found." {
		t.Errorf("JSON message with markup: %q", got)
	}
}

func withHeader(code int, h http.Header) error {
	return gophercloud.ErrUnexpectedResponseCode{Actual: code, Method: "GET", URL: "http://nova/x", ResponseHeader: h}
}

func TestMarkUnavailable(t *testing.T) {
	reset := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for _, c := range []struct {
		name  string
		cause error
		want  bool
	}{
		{"503", httpErr(503, "down"), true},
		{"502", httpErr(502, ""), true},
		{"500", httpErr(500, ""), true},
		{"504", httpErr(504, ""), true},
		{"429", httpErr(429, ""), true},
		{"501", httpErr(501, ""), false},
		{"404", httpErr(404, ""), false},
		{"409", httpErr(409, ""), false},
		{"401", httpErr(401, ""), false},
		{"reset", fmt.Errorf("Get %q: %w", "http://nova", reset), true},
		{"refused", fmt.Errorf("Get %q: %w", "http://nova", refused), true},
		{"deadline during a retry wait", &retryWaitError{msg: "GET x: waiting to retry after 503", err: context.DeadlineExceeded}, true},
		{"deadline", fmt.Errorf("Get x: %w", context.DeadlineExceeded), false},
		{"dns not found", &net.DNSError{Err: "no such host", Name: "nova.invalid", IsNotFound: true}, false},
	} {
		err := markUnavailable(fmt.Errorf("read instance i: %w", c.cause), c.cause)
		if rescue.IsUnavailable(err) != c.want {
			t.Errorf("%s: IsUnavailable = %v, want %v (%v)", c.name, !c.want, c.want, err)
		}
		if !strings.HasPrefix(err.Error(), "read instance i: ") {
			t.Errorf("%s: message changed: %q", c.name, err)
		}
	}
	var ue *rescue.UnavailableError
	err := markUnavailable(errors.New("x"), withHeader(429, http.Header{"Retry-After": {"7"}}))
	if !errors.As(err, &ue) || ue.RetryAfter != 7*time.Second {
		t.Fatalf("429 with Retry-After: %#v", err)
	}
	if triedFor(err, 32*time.Second); ue.Tried != 32*time.Second || !strings.Contains(err.Error(), "tried for 32s") {
		t.Fatalf("tried: %v", err)
	}
}

func TestGetErrorClasses(t *testing.T) {
	if err := getError("i", httpErr(503, "<html><body>down<br /></body></html>")); !rescue.IsUnavailable(err) || strings.Contains(err.Error(), "<br") {
		t.Errorf("503: %v", err)
	}
	if err := getError("i", httpErr(404, "")); !rescue.IsNotFound(err) || rescue.IsUnavailable(err) {
		t.Errorf("404: %v", err)
	}
	if err := getError("i", httpErr(401, "")); !errors.Is(err, rescue.ErrAuth) || rescue.IsUnavailable(err) {
		t.Errorf("401: %v", err)
	}
}

func TestCloudsEntryNotFoundNamesFileAndEntries(t *testing.T) {
	for _, v := range []string{"OS_CLOUD", "OS_AUTH_URL", "OS_TOKEN", "OS_PASSWORD", "OS_USERNAME", "OS_REGION_NAME"} {
		t.Setenv(v, "")
	}
	dir := t.TempDir()
	file := dir + "/clouds.yaml"
	if err := os.WriteFile(file, []byte("clouds:\n  prod:\n    auth:\n      auth_url: http://127.0.0.1:1/v3\n  acc:\n    auth:\n      auth_url: http://127.0.0.1:1/v3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("OS_CLIENT_CONFIG_FILE", file)
	_, err := New(context.Background(), Config{Cloud: "prd"})
	if !errors.Is(err, rescue.ErrConfig) {
		t.Fatalf("got %v, want a configuration error", err)
	}
	for _, want := range []string{`"prd"`, file, `"acc", "prod"`} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("%q does not say %q", err, want)
		}
	}

	t.Setenv("OS_CLIENT_CONFIG_FILE", dir+"/missing.yaml")
	_, err = New(context.Background(), Config{Cloud: "prod"})
	if !errors.Is(err, rescue.ErrConfig) || !strings.Contains(err.Error(), "no clouds.yaml found; looked for "+dir+"/missing.yaml") {
		t.Fatalf("no file: %v", err)
	}
}

func TestConfigErrorsAreMarked(t *testing.T) {
	for _, v := range []string{"OS_CLOUD", "OS_AUTH_URL", "OS_TOKEN", "OS_CLIENT_CONFIG_FILE"} {
		t.Setenv(v, "")
	}
	bad := -1
	for _, cfg := range []Config{{}, {MaxRetries: &bad, Token: "x"}, {EndpointType: "private", Token: "x"}} {
		if _, err := New(context.Background(), cfg); !errors.Is(err, rescue.ErrConfig) {
			t.Errorf("%+v: %v, want a configuration error", cfg, err)
		}
	}
}
