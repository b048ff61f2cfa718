package httppot

import (
	"html"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// respond answers r with bait: login pages that always refuse, and the
// files scanners look for, with believable but fake content. Nothing in a
// request is ever executed, fetched or stored beyond the event. Answers
// that do not depend on the request are made once (see fixed); the rest
// are assembled from parts made once.
func (s *Server) respond(w http.ResponseWriter, r *http.Request, body *form) {
	p := r.URL.Path
	if f, ok := s.bait[p]; ok {
		f.write(w)
		return
	}
	post := r.Method == http.MethodPost
	switch {
	case p == "/" || p == "/index.html" || p == "/login" || p == "/admin" || p == "/admin/" || p == "/admin/login" || p == "/admin/index.php" || p == "/administrator/" || p == "/user/login":
		pick(post, adminFailed, adminLogin).write(w)
	case p == "/wp-login.php":
		if post {
			page(w, http.StatusOK, wpFailedHead+html.EscapeString(formValue(body, "log"))+wpFailedTail)
			return
		}
		wpLoginPage.write(w)
	case p == "/wp-admin" || strings.HasPrefix(p, "/wp-admin/"):
		http.Redirect(w, r, "/wp-login.php?redirect_to="+url.QueryEscape("http://"+r.Host+"/wp-admin/")+"&reauth=1", http.StatusFound)
	case p == "/xmlrpc.php":
		pick(post, xmlrpcFault, xmlrpcGet).write(w)
	case p == "/remote/login" || p == "/remote/logincheck" || p == "/vpn/index.html" || p == "/+CSCOE+/logon.html" || p == "/+webvpn+/index.html" || strings.HasPrefix(p, "/dana-na/") || p == "/sslvpn/login":
		pick(post, vpnFailed, vpnLogin).write(w)
	case hasLowerPrefix(p, "/phpmyadmin") || p == "/pma/" || p == "/myadmin/":
		pick(post, pmaFailed, pmaLogin).write(w)
	case p == "/owa" || p == "/owa/":
		http.Redirect(w, r, "/owa/auth/logon.aspx?replaceCurrent=1&url="+url.QueryEscape("https://"+r.Host+"/owa/"), http.StatusFound)
	case p == "/owa/auth.owa":
		http.Redirect(w, r, "/owa/auth/logon.aspx?replaceCurrent=1&reason=2", http.StatusFound)
	case strings.HasPrefix(p, "/owa/auth/logon.aspx"):
		w.Header()["X-Owa-Version"] = owaVersion
		owaPage.write(w)
	case p == "/manager/html" || p == "/manager/status" || p == "/host-manager/html" || strings.HasPrefix(p, "/manager/text"):
		w.Header()["Www-Authenticate"] = tomcatRealm
		tomcat401.write(w)
	case p == "/console" || p == "/console/":
		http.Redirect(w, r, "/console/login/LoginForm.jsp", http.StatusFound)
	case strings.HasPrefix(p, "/console/"):
		pick(post, consoleFailed, consoleLogin).write(w)
	case strings.HasPrefix(p, "/boaform/"):
		pick(post, routerFailed, routerPage).write(w)
	case p == "/HNAP1" || p == "/HNAP1/":
		hnapBody.write(w)
	case p == "/.env":
		envBait.write(w)
	case p == "/.git/config":
		gitConfigBait.write(w)
	case p == "/.git/HEAD":
		gitHead.write(w)
	case p == "/server-status" || p == "/server-info" || strings.HasPrefix(p, "/cgi-bin/") || p == "/.htaccess" || p == "/.htpasswd":
		page(w, http.StatusForbidden, s.forbidden.render(r))
	case p == "/actuator" || p == "/actuator/":
		h := jsonEscape(r.Host)
		jsonBody(w, `{"_links":{"self":{"href":"http://`+h+`/actuator","templated":false},"health":{"href":"http://`+h+`/actuator/health","templated":false},"env":{"href":"http://`+h+`/actuator/env","templated":false}}}`)
	case p == "/actuator/health":
		actuatorHealth.write(w)
	case p == "/actuator/env":
		actuatorEnv.write(w)
	case strings.HasPrefix(p, "/vendor/phpunit/"):
		// The eval-stdin.php probe: PHP would run the body. This answers
		// as an empty script would, and runs nothing.
		emptyScript.write(w)
	case p == "/solr" || p == "/solr/":
		solrPage.write(w)
	case strings.HasPrefix(p, "/solr/admin/info/system"):
		solrSystem.write(w)
	case strings.HasPrefix(p, "/solr/admin/cores"):
		solrCores.write(w)
	case p == "/robots.txt":
		robots.write(w)
	default:
		page(w, http.StatusNotFound, s.notFound.render(r))
	}
}

// fixed is an answer that does not depend on the request, with the
// values of its headers made once. The header values are shared by every
// answer that sends them and never modified.
type fixed struct {
	code                int
	contentType, length []string
	body                string
}

func newFixed(code int, contentType, body string) *fixed {
	return &fixed{code: code, contentType: []string{contentType}, length: []string{strconv.Itoa(len(body))}, body: body}
}

func fixedPage(code int, body string) *fixed { return newFixed(code, htmlType, body) }

func (f *fixed) write(w http.ResponseWriter) {
	h := w.Header()
	h["Content-Length"] = f.length
	h["Content-Type"] = f.contentType
	w.WriteHeader(f.code)
	io.WriteString(w, f.body) // no copy of the page
}

const htmlType = "text/html; charset=UTF-8"

// The answers made once.
var (
	adminLogin, adminFailed     = fixedPage(http.StatusOK, adminPage(false)), fixedPage(http.StatusOK, adminPage(true))
	vpnLogin, vpnFailed         = fixedPage(http.StatusOK, vpnPage(false)), fixedPage(http.StatusOK, vpnPage(true))
	pmaLogin, pmaFailed         = fixedPage(http.StatusOK, pmaPage(false)), fixedPage(http.StatusOK, pmaPage(true))
	consoleLogin, consoleFailed = fixedPage(http.StatusOK, consolePage(false)), fixedPage(http.StatusOK, consolePage(true))
	wpLoginPage                 = fixedPage(http.StatusOK, wpLogin(""))
	owaPage                     = fixedPage(http.StatusOK, owaHTML)
	tomcat401                   = fixedPage(http.StatusUnauthorized, tomcat401HTML)
	routerPage                  = fixedPage(http.StatusOK, routerHTML)
	routerFailed                = fixedPage(http.StatusOK, `<html><body><blockquote><h4>ERROR: bad password!</h4><form><input type="button" onclick="history.go(-1)" value="  OK  "></form></blockquote></body></html>`)
	solrPage                    = fixedPage(http.StatusOK, solrHTML)
	xmlrpcFault                 = newFixed(http.StatusOK, "text/xml; charset=UTF-8", xmlrpcFaultXML)
	xmlrpcGet                   = newFixed(http.StatusMethodNotAllowed, "text/plain;charset=UTF-8", "XML-RPC server accepts POST requests only.")
	hnapBody                    = newFixed(http.StatusOK, "text/xml; charset=utf-8", hnapXML)
	envBait                     = newFixed(http.StatusOK, "text/plain", envBaitText)
	gitConfigBait               = newFixed(http.StatusOK, "text/plain", gitConfigText)
	gitHead                     = newFixed(http.StatusOK, "text/plain", "ref: refs/heads/main\n")
	robots                      = newFixed(http.StatusOK, "text/plain", "User-agent: *\nDisallow: /admin/\nDisallow: /wp-admin/\nAllow: /wp-admin/admin-ajax.php\n")
	emptyScript                 = newFixed(http.StatusOK, htmlType, "")
	actuatorHealth              = newFixed(http.StatusOK, "application/json", `{"status":"UP"}`)
	actuatorEnv                 = newFixed(http.StatusOK, "application/json", actuatorEnvJSON)
	solrSystem                  = newFixed(http.StatusOK, "application/json", solrSystemJSON)
	solrCores                   = newFixed(http.StatusOK, "application/json", `{"responseHeader":{"status":0,"QTime":1},"initFailures":{},"status":{"collection1":{"name":"collection1","instanceDir":"/var/solr/data/collection1","dataDir":"/var/solr/data/collection1/data/"}}}`)

	owaVersion  = []string{"15.1.2507.6"}
	tomcatRealm = []string{`Basic realm="Tomcat Manager Application"`}

	// The failed WordPress login around the HTML-escaped user name.
	wpFailedHead, wpFailedTail, _ = strings.Cut(wpLogin(`<div id="login_error"><strong>Error:</strong> The password you entered for the username <strong>`+"\x00"+`</strong> is incorrect. <a href="/wp-login.php?action=lostpassword">Lost your password?</a></div>`), "\x00")
)

func pick(cond bool, a, b *fixed) *fixed {
	if cond {
		return a
	}
	return b
}

// send answers with body, whose length is known only now.
func send(w http.ResponseWriter, code int, body string) {
	w.Header()["Content-Length"] = lengthValue(len(body))
	w.WriteHeader(code)
	io.WriteString(w, body) // no copy of the page
}

func page(w http.ResponseWriter, code int, body string) {
	w.Header()["Content-Type"] = htmlTypeValue
	send(w, code, body)
}

func jsonBody(w http.ResponseWriter, body string) {
	w.Header()["Content-Type"] = jsonTypeValue
	send(w, http.StatusOK, body)
}

var htmlTypeValue, jsonTypeValue = []string{htmlType}, []string{"application/json"}

// lengths holds the Content-Length values of the answers assembled per
// request (error pages, which vary by host), shared and never modified.
var lengths = func() (l [4096][1]string) {
	for n := range l {
		l[n][0] = strconv.Itoa(n)
	}
	return l
}()

func lengthValue(n int) []string {
	if n < len(lengths) {
		return lengths[n][:]
	}
	return []string{strconv.Itoa(n)}
}

var jsonEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "<", `\u003c`, ">", `\u003e`, "&", `\u0026`)

func jsonEscape(s string) string { return jsonEscaper.Replace(clip(s, 256)) }

// hasLowerPrefix reports whether strings.ToLower(s) begins with prefix
// (lower-case ASCII), without making the lower-case copy for ASCII s.
func hasLowerPrefix(s, prefix string) bool {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return true
	}
	for i := range len(s) {
		if s[i] >= utf8.RuneSelf { // may lower-case to ASCII (U+212A KELVIN SIGN to k)
			return strings.HasPrefix(strings.ToLower(s), prefix)
		}
	}
	return false
}

func contentTypeOf(p string) string {
	switch {
	case strings.HasSuffix(p, ".json"):
		return "application/json"
	case strings.HasSuffix(p, ".html") || strings.HasSuffix(p, ".php") || strings.HasSuffix(p, "/"):
		return htmlType
	case strings.HasSuffix(p, ".xml"):
		return "text/xml"
	}
	return "text/plain"
}

// formValue returns field of a URL-encoded body ("" if absent).
func formValue(body *form, field string) string {
	q, _ := body.parse()
	return clip(q.Get(field), 128)
}

// apachePage is Apache's error page for one status, made once up to the
// host and port that end it.
type apachePage struct {
	head string // up to the host, or the whole page without a Server header
	tail string
	addr bool // the page names the server, host and port
}

func newApachePage(server, title, h1, msg string) apachePage {
	head := "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\n<html><head>\n<title>" + title + "</title>\n</head><body>\n<h1>" + h1 + "</h1>\n<p>" + msg + "</p>\n"
	if server == "-" {
		return apachePage{head: head + "</body></html>\n"}
	}
	return apachePage{head: head + "<hr>\n<address>" + html.EscapeString(server) + " Server at ", tail: "</address>\n</body></html>\n", addr: true}
}

// render returns the page for r's host and port.
func (a apachePage) render(r *http.Request) string {
	if !a.addr {
		return a.head
	}
	host, port := r.Host, "80"
	if h, p, ok := strings.Cut(r.Host, ":"); ok {
		host, port = h, p
	} else if r.TLS != nil {
		port = "443"
	}
	return a.head + html.EscapeString(clip(host, 128)) + " Port " + html.EscapeString(clip(port, 8)) + a.tail
}

const loginCSS = `body{font-family:Segoe UI,Helvetica,Arial,sans-serif;background:#f1f3f6;margin:0}
.box{width:340px;margin:90px auto;background:#fff;border:1px solid #d8dde6;border-radius:4px;padding:28px 32px;box-shadow:0 1px 3px rgba(0,0,0,.08)}
h1{font-size:20px;margin:0 0 18px;color:#223}label{display:block;font-size:13px;color:#445;margin-top:12px}
input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:8px;border:1px solid #c3c9d4;border-radius:3px;margin-top:4px}
button{margin-top:18px;width:100%;padding:9px;background:#1f6fb2;color:#fff;border:0;border-radius:3px;font-size:14px}
.err{color:#b00020;font-size:13px;margin-bottom:8px}.foot{font-size:11px;color:#889;margin-top:16px;text-align:center}`

func adminPage(failed bool) string {
	msg := ""
	if failed {
		msg = `<div class="err">Invalid username or password.</div>`
	}
	return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Management Console - Sign In</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>` + loginCSS + `</style></head>
<body><div class="box"><h1>Management Console</h1>` + msg + `
<form method="post" action="/admin/login" autocomplete="off">
<label for="username">Username</label><input type="text" id="username" name="username">
<label for="password">Password</label><input type="password" id="password" name="password">
<button type="submit">Sign in</button></form>
<div class="foot">&copy; 2024 Management Console v3.8.2</div></div></body></html>
`
}

func vpnPage(failed bool) string {
	msg := ""
	if failed {
		msg = `<div class="err">Error: Permission denied.</div>`
	}
	return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>SSL VPN Portal</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>` + loginCSS + `
.box{border-top:4px solid #c8102e}button{background:#c8102e}</style></head>
<body><div class="box"><h1>SSL-VPN Portal</h1><p style="font-size:13px;color:#556">Please log in to access the corporate network.</p>` + msg + `
<form method="post" action="/remote/logincheck" autocomplete="off">
<label for="username">Username</label><input type="text" id="username" name="username">
<label for="credential">Password</label><input type="password" id="credential" name="credential">
<input type="hidden" name="realm" value=""><input type="hidden" name="ajax" value="1">
<button type="submit">Login</button></form>
<div class="foot">Launch FortiClient or your VPN client to connect with full access.</div></div></body></html>
`
}

func wpLogin(errBox string) string {
	return `<!DOCTYPE html>
<html lang="en-US"><head><meta http-equiv="Content-Type" content="text/html; charset=UTF-8">
<title>Log In &lsaquo; Company Blog &#8212; WordPress</title>
<meta name='robots' content='max-image-preview:large, noindex, noarchive' />
<link rel='stylesheet' id='login-css' href='/wp-admin/css/login.min.css?ver=6.4.3' type='text/css' media='all' />
<meta name="viewport" content="width=device-width" /></head>
<body class="login no-js login-action-login wp-core-ui  locale-en-us">
<div id="login"><h1><a href="https://wordpress.org/">Powered by WordPress</a></h1>
` + errBox + `
<form name="loginform" id="loginform" action="/wp-login.php" method="post">
<p><label for="user_login">Username or Email Address</label>
<input type="text" name="log" id="user_login" class="input" value="" size="20" autocapitalize="off" autocomplete="username" required="required" /></p>
<div class="user-pass-wrap"><label for="user_pass">Password</label>
<div class="wp-pwd"><input type="password" name="pwd" id="user_pass" class="input password-input" value="" size="20" autocomplete="current-password" spellcheck="false" required="required" /></div></div>
<p class="forgetmenot"><input name="rememberme" type="checkbox" id="rememberme" value="forever"  /> <label for="rememberme">Remember Me</label></p>
<p class="submit"><input type="submit" name="wp-submit" id="wp-submit" class="button button-primary button-large" value="Log In" />
<input type="hidden" name="redirect_to" value="/wp-admin/" /><input type="hidden" name="testcookie" value="1" /></p>
</form>
<p id="nav"><a href="/wp-login.php?action=lostpassword">Lost your password?</a></p>
</div></body></html>
`
}

func pmaPage(failed bool) string {
	msg := ""
	if failed {
		msg = `<div class="err">mysqli::real_connect(): (HY000/1045): Access denied for user</div><div class="err">Cannot log in to the MySQL server</div>`
	}
	return `<!DOCTYPE HTML>
<html lang="en" dir="ltr"><head><meta charset="utf-8"><meta name="robots" content="noindex,nofollow">
<title>phpMyAdmin</title><style>` + loginCSS + `</style></head>
<body id="loginform"><div class="box"><h1>Welcome to phpMyAdmin</h1>` + msg + `
<form method="post" id="login_form" action="index.php" name="login_form" autocomplete="off">
<label for="input_username">Username:</label><input type="text" name="pma_username" id="input_username" value="">
<label for="input_password">Password:</label><input type="password" name="pma_password" id="input_password" value="">
<input type="hidden" name="server" value="1"><input type="hidden" name="route" value="/">
<button type="submit" id="input_go">Log in</button></form>
<div class="foot">phpMyAdmin 5.2.1</div></div></body></html>
`
}

const owaHTML = `<!DOCTYPE html>
<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"><title>Outlook</title>
<style>` + loginCSS + `</style></head>
<body><div class="box"><h1>Outlook</h1>
<form action="/owa/auth.owa" method="POST" name="logonForm" autocomplete="off">
<input type="hidden" name="destination" value="/owa/"><input type="hidden" name="flags" value="4"><input type="hidden" name="forcedownlevel" value="0">
<label for="username">Domain\user name:</label><input id="username" name="username" type="text">
<label for="password">Password:</label><input id="password" name="password" type="password">
<button type="submit">sign in</button></form></div></body></html>
`

const tomcat401HTML = `<!doctype html><html lang="en"><head><title>401 Unauthorized</title></head><body><h1>401 Unauthorized</h1>
<p>You are not authorized to view this page. If you have not changed any configuration files, please examine the file <tt>conf/tomcat-users.xml</tt> in your installation.</p></body></html>
`

func consolePage(failed bool) string {
	msg := ""
	if failed {
		msg = `<div class="err">Authentication Denied</div>`
	}
	return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Oracle WebLogic Server Administration Console 12c</title><style>` + loginCSS + `</style></head>
<body><div class="box"><h1>Welcome</h1><p style="font-size:13px">Log in to work with the WebLogic Server domain</p>` + msg + `
<form id="loginData" method="post" action="/console/j_security_check" autocomplete="off">
<label for="j_username">Username:</label><input type="text" id="j_username" name="j_username">
<label for="j_password">Password:</label><input type="password" id="j_password" name="j_password">
<button type="submit">Login</button></form>
<div class="foot">WebLogic Server Version: 12.2.1.3.0</div></div></body></html>
`
}

const routerHTML = `<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"><title>GPON Home Gateway</title></head>
<body><form action="/boaform/admin/formLogin" method="post" name="cmlogin">
<table align="center"><tr><td>Username:</td><td><input type="text" name="username" maxlength="32"></td></tr>
<tr><td>Password:</td><td><input type="password" name="psd" maxlength="32"></td></tr>
<tr><td colspan="2"><input type="submit" value="Login"><input type="hidden" name="verification_code" value=""></td></tr></table>
</form></body></html>
`

const xmlrpcFaultXML = `<?xml version="1.0" encoding="UTF-8"?>
<methodResponse><fault><value><struct><member><name>faultCode</name><value><int>403</int></value></member><member><name>faultString</name><value><string>Incorrect username or password.</string></value></member></struct></value></fault></methodResponse>
`

const hnapXML = `<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">
<soap:Body><GetDeviceSettingsResponse xmlns="http://purenetworks.com/HNAP1/">
<GetDeviceSettingsResult>OK</GetDeviceSettingsResult><Type>GatewayWithWiFi</Type><DeviceName>DIR-859</DeviceName>
<VendorName>D-Link</VendorName><ModelDescription>Wireless AC1750 Dual Band Gigabit Router</ModelDescription><ModelName>DIR-859</ModelName>
<FirmwareVersion>1.05</FirmwareVersion><PresentationURL>/</PresentationURL>
<SOAPActions><string>http://purenetworks.com/HNAP1/Login</string><string>http://purenetworks.com/HNAP1/GetDeviceSettings</string></SOAPActions>
</GetDeviceSettingsResponse></soap:Body></soap:Envelope>
`

// envBaitText looks like a Laravel .env. Every secret in it is fake; plant a
// honeytoken by overriding /.env in the bait configuration.
const envBaitText = `APP_NAME=Portal
APP_ENV=production
APP_KEY=base64:Yk9wT1dMS0h0c3JqV2ZxR0JrZ1R3a0RvUGdpbU9Ia0k=
APP_DEBUG=false
APP_URL=http://localhost

LOG_CHANNEL=stack

DB_CONNECTION=mysql
DB_HOST=127.0.0.1
DB_PORT=3306
DB_DATABASE=portal
DB_USERNAME=portal
DB_PASSWORD=Portal2023!db

REDIS_HOST=127.0.0.1
REDIS_PASSWORD=null
REDIS_PORT=6379

MAIL_MAILER=smtp
MAIL_HOST=smtp.mailtrap.io
MAIL_PORT=2525
MAIL_USERNAME=null
MAIL_PASSWORD=null
`

const gitConfigText = `[core]
	repositoryformatversion = 0
	filemode = true
	bare = false
	logallrefupdates = true
[remote "origin"]
	url = git@git.internal:web/portal.git
	fetch = +refs/heads/*:refs/remotes/origin/*
[branch "main"]
	remote = origin
	merge = refs/heads/main
`

const actuatorEnvJSON = `{"activeProfiles":["prod"],"propertySources":[{"name":"server.ports","properties":{"local.server.port":{"value":8080}}},{"name":"systemEnvironment","properties":{"JAVA_HOME":{"value":"/usr/lib/jvm/java-11-openjdk-amd64"},"HOSTNAME":{"value":"app-7f9c6d"},"SPRING_DATASOURCE_URL":{"value":"jdbc:postgresql://db:5432/app"},"SPRING_DATASOURCE_USERNAME":{"value":"app"},"SPRING_DATASOURCE_PASSWORD":{"value":"******"}}},{"name":"applicationConfig: [classpath:/application.properties]","properties":{"spring.application.name":{"value":"orders-service"},"management.endpoints.web.exposure.include":{"value":"*"}}}]}`

const solrHTML = `<!DOCTYPE html>
<html ng-app="solrAdminApp"><head><title>Solr Admin</title><meta http-equiv="Content-Type" content="text/html; charset=UTF-8"></head>
<body><div id="wrapper"><div id="header"><a href="./" id="solr"><span>Apache SOLR</span></a></div>
<div id="main"><div id="content">Loading ...</div></div></div></body></html>
`

const solrSystemJSON = `{"responseHeader":{"status":0,"QTime":12},"mode":"std","solr_home":"/var/solr/data","lucene":{"solr-spec-version":"8.11.2","solr-impl-version":"8.11.2 17dee71932c683e345508113523e764c3e4c80fa - mdrob - 2022-06-13 11:13:58","lucene-spec-version":"8.11.2"},"jvm":{"version":"11.0.16 11.0.16+8-post-Ubuntu-0ubuntu120.04","name":"Ubuntu OpenJDK 64-Bit Server VM"},"system":{"name":"Linux","arch":"amd64","version":"5.4.0-148-generic"}}`
