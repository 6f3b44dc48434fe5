package main

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"
)

// staticPath is where the page mix's static resources are served: a second
// webapp, context /share/static, deployed on both nodes from the same
// directory (Tomcat's DefaultServlet: weak ETags from length and mtime,
// If-None-Match answered with 304). It is inside /share, so every front end
// maps it as it maps the application.
const staticPath = "/share/static"

// staticFile is one resource of the page mix.
type staticFile struct {
	Name string // under staticPath
	Size int    // bytes, approximately for PNGs
}

// staticFiles are the 20 resources a page of the mix loads: 5 stylesheets,
// 10 scripts and 5 images from 1 KiB to 100 KiB (about 570 KiB in all),
// sizes spaced evenly on a log scale and dealt round the kinds.
// Deterministic.
func staticFiles() []staticFile {
	const n = 20
	kinds := []string{"css", "js", "png", "js"}
	count := map[string]int{}
	files := make([]staticFile, n)
	for i := range n {
		size := int(1024 * math.Pow(100, float64(i)/(n-1)))
		ext := kinds[i%len(kinds)]
		count[ext]++
		files[i] = staticFile{Name: fmt.Sprintf("%s/app%d.%s", ext, count[ext], ext), Size: size}
	}
	return files
}

// staticMTime is every resource's modification time: the ETags are the
// same on both nodes and in every run.
var staticMTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// writeStaticWebapp writes the resources into dir (replacing it).
func writeStaticWebapp(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	for i, f := range staticFiles() {
		rng := rand.New(rand.NewPCG(uint64(i), 16))
		var body []byte
		switch filepath.Ext(f.Name) {
		case ".png":
			// Noise does not compress: side² × 4 bytes is about the size.
			side := max(8, int(math.Sqrt(float64(f.Size)/4)))
			img := image.NewNRGBA(image.Rect(0, 0, side, side))
			for p := range img.Pix {
				img.Pix[p] = byte(rng.Uint32())
			}
			for y := range side {
				img.Set(0, y, color.NRGBA{A: 255})
			}
			var b bytes.Buffer
			if err := png.Encode(&b, img); err != nil {
				return err
			}
			body = b.Bytes()
		default:
			body = textAsset(rng, f.Size, filepath.Ext(f.Name))
		}
		p := filepath.Join(dir, filepath.FromSlash(f.Name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, body, 0o644); err != nil {
			return err
		}
		if err := os.Chtimes(p, staticMTime, staticMTime); err != nil {
			return err
		}
	}
	return nil
}

// textAsset is size bytes of plausible CSS or JavaScript.
func textAsset(rng *rand.Rand, size int, ext string) []byte {
	var b bytes.Buffer
	for k := 0; b.Len() < size; k++ {
		if ext == ".css" {
			fmt.Fprintf(&b, ".c%x-%d { margin: %dpx; color: #%06x; }\n", rng.Uint32(), k, rng.IntN(40), rng.IntN(1<<24))
		} else {
			fmt.Fprintf(&b, "function f%x_%d(a) { return a * %d + %q; }\n", rng.Uint32(), k, rng.IntN(1000), fmt.Sprint(rng.Uint64()))
		}
	}
	return b.Bytes()[:size]
}
