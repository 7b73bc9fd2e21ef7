package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"reflect"
	"slices"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/fileio"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/gcs"   // gs:// paths
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local" // local paths
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/s3"    // s3:// paths
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"

	"github.com/fovea-ml/fovea/internal/atomicfile"
)

// DeadLetter is one input a pipeline could not use: File names the file
// (with ":LINE" for a line of a JSON-lines file) and Reason says what was
// wrong. Dead letters are written as JSON lines {"file","reason"}.
type DeadLetter struct {
	File   string `json:"file"`
	Reason string `json:"reason"`
}

func init() {
	beam.RegisterType(reflect.TypeOf((*DeadLetter)(nil)).Elem())
	register.Function2x2(keyByStem)
	register.Emitter1[DeadLetter]()
}

// stem returns a file's base name without its extension: the key that
// pairs a ground-truth file with its prediction.
func stem(p string) string {
	b := path.Base(strings.ReplaceAll(p, "\\", "/"))
	return strings.TrimSuffix(b, path.Ext(b))
}

// keyByStem maps a matched file path to (stem, path).
func keyByStem(_ context.Context, md fileio.FileMetadata) (string, string) {
	return stem(md.Path), md.Path
}

// isLocal reports whether p is a local path (no scheme://).
func isLocal(p string) bool { return !strings.Contains(p, "://") }

// readFile reads a whole file through Beam's filesystem (local, gs://, s3://).
func readFile(ctx context.Context, p string) ([]byte, error) {
	fs, err := filesystem.New(ctx, p)
	if err != nil {
		return nil, err
	}
	defer fs.Close()
	r, err := fs.OpenRead(ctx, p)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// writeFile writes b to p in one piece: a local file through atomicfile
// (a temporary renamed over p), a remote object through Beam's filesystem
// (object stores commit on close).
func writeFile(ctx context.Context, p string, b []byte) error {
	if isLocal(p) {
		return atomicfile.WriteBytes(p, b)
	}
	fs, err := filesystem.New(ctx, p)
	if err != nil {
		return err
	}
	defer fs.Close()
	w, err := fs.OpenWrite(ctx, p)
	if err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		w.Close()
		return fmt.Errorf("%s: %w", p, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	return nil
}

// JoinPath joins a folder (local or scheme://) and a file name.
func JoinPath(dir, name string) string {
	return strings.TrimSuffix(dir, "/") + "/" + name
}

// deadLetterLines renders dead letters as JSON lines sorted by file then
// reason, so that the file does not depend on the runner's order.
func deadLetterLines(dls []DeadLetter) []byte {
	slices.SortFunc(dls, func(a, b DeadLetter) int {
		if c := strings.Compare(a.File, b.File); c != 0 {
			return c
		}
		return strings.Compare(a.Reason, b.Reason)
	})
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for _, d := range dls {
		enc.Encode(d) // a struct of two strings cannot fail
	}
	return buf.Bytes()
}

// ReadDeadLetters reads a dead-letter file written by a pipeline.
func ReadDeadLetters(ctx context.Context, p string) ([]DeadLetter, error) {
	b, err := readFile(ctx, p)
	if err != nil {
		return nil, err
	}
	var out []DeadLetter
	for i, line := range bytes.Split(b, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var d DeadLetter
		if err := json.Unmarshal(line, &d); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", p, i+1, err)
		}
		out = append(out, d)
	}
	return out, nil
}

// collect gathers every element of the iterator.
func collect[T any](iter func(*T) bool) []T {
	var out []T
	for {
		var x T
		if !iter(&x) {
			return out
		}
		out = append(out, x)
	}
}

// evalFloat is a float64 that marshals NaN and ±Inf as null, as the fovea
// command's --json files do.
type evalFloat float64

func (f evalFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if v != v || v > 1.7976931348623157e308 || v < -1.7976931348623157e308 {
		return []byte("null"), nil
	}
	return json.Marshal(v)
}

func evalFloats(x []float64) []evalFloat {
	out := make([]evalFloat, len(x))
	for i, v := range x {
		out[i] = evalFloat(v)
	}
	return out
}

// indentJSON is the fovea command's --json format: two-space indent and a
// final newline.
func indentJSON(v any) ([]byte, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
