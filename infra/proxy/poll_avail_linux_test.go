package proxy

func thePollAvailable() bool { return getPoller() != nil }
