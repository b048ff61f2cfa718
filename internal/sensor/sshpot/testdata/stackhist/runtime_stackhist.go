package runtime

// StackHist returns, per goroutine start function and stack size, how many goroutines.
func StackHist() map[string]int {
	m := map[string]int{}
	lock(&allglock)
	gs := allgs
	unlock(&allglock)
	for _, gp := range gs {
		if readgstatus(gp) == _Gdead {
			continue
		}
		f := findfunc(gp.startpc)
		name := "?"
		if f.valid() {
			name = funcNameForPrint(funcname(f))
		}
		used := gp.stack.hi - gp.sched.sp
		m[name+" size="+string(itoaDiv(make([]byte, 20), uint64(gp.stack.hi-gp.stack.lo), 0))+" used~"+string(itoaDiv(make([]byte, 20), uint64(used/64*64), 0))]++
	}
	return m
}
