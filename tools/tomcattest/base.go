package tomcattest

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
)

// debianConf is where Debian's tomcat10 package keeps its configuration.
const debianConf = "/etc/tomcat10"

// CatalinaHome returns $CATALINA_HOME, else Debian's /usr/share/tomcat10, and
// fails clearly when Tomcat is not installed there.
func CatalinaHome() (string, error) {
	home := os.Getenv("CATALINA_HOME")
	if home == "" {
		home = "/usr/share/tomcat10"
	}
	if _, err := os.Stat(filepath.Join(home, "bin", "bootstrap.jar")); err != nil {
		return "", fmt.Errorf("tomcat10 is not installed: run apt-get install tomcat10 (no %s/bin/bootstrap.jar: %w)", home, err)
	}
	return home, nil
}

// confSource is the directory whose defaults each node copies: $CATALINA_HOME/conf
// when it has them (upstream layout), else Debian's /etc/tomcat10.
func confSource(home string) string {
	if _, err := os.Stat(filepath.Join(home, "conf", "web.xml")); err == nil {
		return filepath.Join(home, "conf")
	}
	return debianConf
}

// javaBinary finds the java launcher.
func javaBinary(javaHome string) (string, error) {
	if javaHome == "" {
		javaHome = os.Getenv("JAVA_HOME")
	}
	if javaHome != "" {
		p := filepath.Join(javaHome, "bin", "java")
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("no java in JAVA_HOME %s: %w", javaHome, err)
		}
		return p, nil
	}
	p, err := exec.LookPath("java")
	if err != nil {
		return "", fmt.Errorf("java is not installed: run apt-get install default-jre-headless: %w", err)
	}
	return p, nil
}

// Appended to the copied catalina.properties (later keys win): scanning JARs
// for TLDs and fragments is the slowest part of a start, and the test
// applications need neither.
const catalinaPropertiesOverrides = `
# tomcattest: skip all JAR scanning for a fast start.
tomcat.util.scan.StandardJarScanFilter.jarsToSkip=*
tomcat.util.scan.StandardJarScanFilter.jarsToScan=
`

// Appended to the copied logging.properties: one log, the console, which the
// node writes to logs/catalina.out (Debian's default adds dated files and a
// systemd formatter).
const loggingPropertiesOverrides = `
# tomcattest: everything goes to the console, captured in logs/catalina.out.
handlers = java.util.logging.ConsoleHandler
.handlers = java.util.logging.ConsoleHandler
java.util.logging.ConsoleHandler.level = FINE
java.util.logging.ConsoleHandler.formatter = org.apache.juli.OneLineFormatter
java.util.logging.ConsoleHandler.encoding = UTF-8
org.apache.catalina.core.ContainerBase.[Catalina].[localhost].handlers = java.util.logging.ConsoleHandler
`

// writeBase lays out CATALINA_BASE for o: conf/ (copied defaults, overrides,
// generated server.xml), logs/, temp/, work/, an empty webapps/ and the
// embedded applications under apps/.
func writeBase(home, base string, o *Options) error {
	for _, d := range []string{"conf", "logs", "temp", "work", "webapps", "apps"} {
		if err := os.MkdirAll(filepath.Join(base, d), 0o755); err != nil {
			return fmt.Errorf("creating CATALINA_BASE: %w", err)
		}
	}
	src := confSource(home)
	for _, f := range []struct{ name, extra string }{
		{"web.xml", ""},
		{"context.xml", ""},
		{"catalina.properties", catalinaPropertiesOverrides},
		{"logging.properties", loggingPropertiesOverrides},
	} {
		b, err := os.ReadFile(filepath.Join(src, f.name))
		if err != nil {
			return fmt.Errorf("copying Tomcat's default configuration: %w", err)
		}
		b = append(b, f.extra...)
		if err := os.WriteFile(filepath.Join(base, "conf", f.name), b, 0o644); err != nil {
			return fmt.Errorf("writing CATALINA_BASE: %w", err)
		}
	}

	docBases := make([]string, len(o.Webapps))
	for i, w := range o.Webapps {
		if w.Dir != "" {
			abs, err := filepath.Abs(w.Dir)
			if err != nil {
				return fmt.Errorf("webapp %s: %w", w.Path, err)
			}
			if _, err := os.Stat(abs); err != nil {
				return fmt.Errorf("webapp %s: %w", w.Path, err)
			}
			docBases[i] = abs
			continue
		}
		dst := filepath.Join(base, "apps", w.Embedded)
		if err := extractEmbedded(w.Embedded, dst); err != nil {
			return fmt.Errorf("webapp %s: %w", w.Path, err)
		}
		docBases[i] = dst
	}

	xmlText, err := renderServerXML(o, docBases)
	if err != nil {
		return err
	}
	// 0600: server.xml holds the AJP secret.
	if err := os.WriteFile(filepath.Join(base, "conf", "server.xml"), xmlText, 0o600); err != nil {
		return fmt.Errorf("writing server.xml: %w", err)
	}
	return nil
}

// extractEmbedded copies webapps/<name> of the embedded applications to dst,
// replacing what was there.
func extractEmbedded(name, dst string) error {
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	root := "webapps/" + name
	return fs.WalkDir(embeddedWebapps, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := embeddedWebapps.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
}
