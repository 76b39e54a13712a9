package main

import (
	"errors"
	"flag"
	"strings"
)

// parseFlags parses args into fs, then sets every flag that the command line
// did not set from its environment variable (see envName), looked up with
// lookupEnv (os.LookupEnv outside tests). Empty variables count as unset.
//
// fs must use flag.ContinueOnError. Errors are *usageError, except that -h
// returns flag.ErrHelp. An invalid environment value fails with a message
// naming the flag and the variable; the value itself is not repeated, since
// it may be a secret.
func parseFlags(fs *flag.FlagSet, args []string, lookupEnv func(string) (string, bool)) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &usageError{err: err}
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	set := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || set[f.Name] {
			return
		}
		env := envName(f.Name)
		v, ok := lookupEnv(env)
		if !ok || v == "" {
			return
		}
		var serr error
		if es, ok := f.Value.(envSetter); ok {
			serr = es.SetEnv(v)
		} else {
			serr = fs.Set(f.Name, v)
		}
		if serr != nil {
			err = usagef("invalid value for flag --%s from environment variable %s: %w", f.Name, env, serr)
		}
	})
	return err
}

// envSetter is a flag.Value that reads the environment in its own way (a
// list in one variable).
type envSetter interface {
	SetEnv(value string) error
}

// stringSlice is a repeatable string flag: each use appends a value. In the
// environment, values are separated by commas.
type stringSlice []string

func (s *stringSlice) String() string { return strings.Join(*s, ",") }

// Set appends one value.
func (s *stringSlice) Set(v string) error {
	*s = append(*s, v)
	return nil
}

// SetEnv sets the values from a comma-separated list, taken as is (no
// trimming); empty items are skipped.
func (s *stringSlice) SetEnv(v string) error {
	for _, item := range strings.Split(v, ",") {
		if item != "" {
			*s = append(*s, item)
		}
	}
	if len(*s) == 0 {
		return errors.New("no values")
	}
	return nil
}
