package pipeline

import (
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
)

// TestMain runs the pipelines of the tests on Beam's in-process Prism
// runner (or the one --runner names).
func TestMain(m *testing.M) { ptest.MainWithDefault(m, "prism") }
