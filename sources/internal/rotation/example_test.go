package rotation_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/logviewer/logviewer/sources/internal/rotation"
)

// A follower had delivered app.log's first two lines when it found the file
// truncated. logrotate's copytruncate had copied it to app.log.1 first: the
// rest of the old content is read from there.
func ExampleFindCopy() {
	dir, _ := os.MkdirTemp("", "rotation-example")
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "app.log.1"), []byte("one\ntwo\nthree\nfour\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "app.log"), nil, 0o644) // truncated

	delivered := int64(len("one\ntwo\n"))
	known := []byte("one\ntwo\n") // the last bytes delivered (up to 1 KiB in practice)
	c, err := rotation.FindCopy(rotation.OS{}, dir, "app.log", delivered, known)
	switch {
	case err == nil:
		defer c.Close()
		rest, _ := io.ReadAll(c)
		fmt.Printf("from %s: %q\n", filepath.Base(c.Path), rest)
	case errors.Is(err, rotation.ErrNotFound):
		fmt.Println("no copy: say how many bytes were skipped")
	default:
		fmt.Println("error:", err)
	}
	// Output: from app.log.1: "three\nfour\n"
}
