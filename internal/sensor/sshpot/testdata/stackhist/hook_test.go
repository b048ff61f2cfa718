package sshpot

import "runtime"

func init() { stackHist = runtime.StackHist }
