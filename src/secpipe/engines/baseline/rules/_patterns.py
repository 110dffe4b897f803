"""ZAP's pattern lists for the content rules (zap-extensions pscanrules `zapHomeFiles/xml`).

Kept verbatim so the baseline flags what ZAP flags: `debug-error-messages.txt` (10023),
`suspicious-comments.txt` (10027), `application_errors.xml` (90022) and the default anti-CSRF
token names (10202). `EXTRA_APPLICATION_ERRORS` is secpipe's addition, the equivalent of
entries a ZAP user adds through the Custom Payloads add-on: stack-trace headers of runtimes
ZAP's list predates.
"""

from __future__ import annotations

import re

DEBUG_ERRORS = [
    "Error Occurred While Processing Request",
    "Internal Server Error",
    "test page for apache",
    "failed to open stream: HTTP request failed!",
    "Parse error: parse error, unexpected T_VARIABLE",
    "The script whose uid is",
    "PHP Parse error",
    "PHP Warning",
    "PHP Error",
    "Warning: Cannot modify header information - headers already sent",
    "mysqli error is",
    "mysql error is",
    "404 SC_NOT_FOUND",
    "ASP.NET_SessionId",
    "servlet error:",
    "Under construction",
    "Welcome to Windows 2000 Internet Services",
    "welcome to iis 4.0",
    "Warning: Supplied argument is not a valid File-Handle resource",
    "Warning: Division by zero in",
    "Warning: SAFE MODE Restriction in effect.",
    "Error Message : Error loading required libraries.",
    "Fatal error: Call to undefined function",
    "access denied for user",
    "incorrect syntax near",
    "Unclosed quotation mark before the character string",
    "There seems to have been a problem with the",
    "customErrors mode",
    "This error page might contain sensitive information because ASP.NET",
]

SUSPICIOUS_WORDS = [
    "TODO", "FIXME", "BUG", "BUGS", "XXX", "QUERY", "DB", "ADMIN", "ADMINISTRATOR", "USER",
    "USERNAME", "SELECT", "WHERE", "FROM", "LATER",
]  # fmt: skip
SUSPICIOUS = [(rf"\b{w}\b", re.compile(rf"\b{w}\b", re.I)) for w in SUSPICIOUS_WORDS]

ANTI_CSRF_TOKENS = [
    "anticsrf", "CSRFToken", "__RequestVerificationToken", "csrfmiddlewaretoken",
    "authenticity_token", "OWASP_CSRFTOKEN", "anoncsrf", "csrf_token", "_csrf", "_csrfSecret",
    "__csrf_magic", "CSRF",
]  # fmt: skip

APPLICATION_ERROR_STRINGS = [
    "Microsoft OLE DB Provider for ODBC Drivers",
    "Microsoft OLE DB Provider for SQL Server",
    "ODBC Microsoft Access Driver",
    "ODBC SQL Server Driver",
    "supplied argument is not a valid MySQL result",
    "Invalid parameter type",
    "You have an error in your SQL syntax",
    "Incorrect column name",
    "Can't find record in",
    "Unknown table",
    "Incorrect column specifier for column",
    "Column count doesn't match value count at row",
    "Unclosed quotation mark before the character string",
    "java.lang.NumberFormatException: For input string:",
    "): encountered SQLException [",
    "Unexpected end of command in statement [",
    "Invalid SQL:",
    "ERROR: parser: parse error at or near",
    "[ODBC Informix driver][Informix]",
    "[Microsoft][ODBC Microsoft Access 97 Driver]",
    "[SQL Server Driver][SQL Server]Line 1: Incorrect syntax near",
    "SQL command not properly ended",
    "unexpected end of SQL command",
    "Supplied argument is not a valid PostgreSQL result",
    "internal error [IBM][CLI Driver][DB2/6000]",
    "Error Occurred While Processing Request",
    "internal error",
    "A syntax error has occurred",
    "ADODB.Field error",
    "ASP.NET is configured to show verbose error messages",
    "ASP.NET_SessionId",
    "Active Server Pages error",
    "An illegal character has been found in the statement",
    'An unexpected token "END-OF-STATEMENT" was found',
    "Can't connect to local",
    "Custom Error Message",
    "DB2 Driver",
    "DB2 Error",
    "DB2 ODBC",
    "Disallowed Parent Path",
    "Error Diagnostic Information",
    "Error Message : Error loading required libraries.",
    "Error Report",
    "Error converting data type varchar to numeric",
    "Internal Server Error",
    "Invalid Path Character",
    "Invalid procedure call or argument",
    "Invision Power Board Database Error",
    "JDBC Driver",
    "JDBC Error",
    "JDBC MySQL",
    "JDBC Oracle",
    "JDBC SQL",
    "Microsoft VBScript compilation error",
    "Microsoft VBScript error",
    "MySQL Driver",
    "MySQL Error",
    "MySQL ODBC",
    "ODBC DB2",
    "ODBC Driver",
    "ODBC Error",
    "ODBC Oracle",
    "OLE/DB provider returned message",
    "Oracle DB2",
    "Oracle Driver",
    "Oracle Error",
    "Oracle ODBC",
    "PHP Error",
    "PHP Parse error",
    "PHP Warning",
    "Parent Directory",
    "Permission denied: 'GetObject'",
    "PostgreSQL query failed: ERROR: parser: parse error",
    "The script whose uid is",
    "Type mismatch",
    "Unable to jump to row",
    "Unterminated string constant",
    "Warning: Cannot modify header information - headers already sent",
    "Warning: Supplied argument is not a valid File-Handle resource in",
    "Warning: mysql_query()",
    "Warning: pg_connect(): Unable to connect to PostgreSQL server: FATAL",
    "data source=",
    "invalid query",
    "is not allowed to access",
    "mySQL error with query",
    "on MySQL result index",
    "server object error",
    "SyntaxError: Unexpected token",
]

_REGEXES = [
    r"(?i)Line\s\d+:\sIncorrect\ssyntax\snear\s'[^']*'",
    r"(?i)pg_query\(\)[:]*\squery\sfailed:\serror:\s",
    r"(?i)'[^']*'\sis\snull\sor\snot\san\sobject",
    r"(?i)ORA\-\d{4,5}:\s",
    r"(?i)Microsoft\sJET\sDatabase\sEngine\s\([^\)]*\)<br>Syntax\serror(.*)\sin\squery\s"
    r"expression\s'.*\.<br><b>.*,\sline\s\d+</b><br>",
    r"(?i)<h2>\s<i>Syntax\serror\s(\([^\)]*\))?(in\sstring)?\sin\squery\sexpression\s'[^\.]*"
    r"\.</i>\s</h2></span>",
    r"(?i)<font\sface=\"Arial\"\ssize=2>Syntax\serror\s(.*)?in\squery\sexpression\s'(.*)\."
    r"</font>",
    r"(?i)System\.Data\.OleDb\.OleDbException\:\sSyntax\serror\s\([^)]*?\)\sin\squery\s"
    r"expression\s.*",
    r"(?i)System\.Data\.OleDb\.OleDbException\:\sSyntax\serror\sin\sstring\sin\squery\s"
    r"expression\s",
    r"<font style=\"COLOR: black; FONT: 8pt/11pt verdana\">\s+(\[Macromedia\]\[SQLServer\s"
    r"JDBC\sDriver\]\[SQLServer\]|Syntax\serror\sin\sstring\sin\squery\sexpression\s)",
    r"(?i)The Error Occurred in <b>(.*): line.*<\/b><br>",
    r"(?i)The error occurred while processing.*Template: (.*) <br>.",
    r"(?i)The error occurred while processing.*in the template file (.*)\.<\/p><br>",
    r"(?i)<span><H1>Server\sError\sin\s'[^']*'\sApplication\.<hr\swidth=100%\ssize=1\s"
    r"color=silver></H1>",
    r"(?i)<b>(Warning|Fatal\serror|Parse\serror)</b>:\s+.*?\sin\s<b>.*?</b>\son\sline\s<b>"
    r"\d*?</b><br\s/>",
    r"(?:Unknown database '.*?')|(?:No database selected)|(?:Table '.*?' doesn't exist)|"
    r"(?:You have an error in your SQL syntax; check the manual that corresponds to your MySQL "
    r"server version for the right syntax to use near '.*?' at line .*?)",
    r"Exception report.*message.*description.*exception.*note.*",
    r"(?i)<head><title>JRun Servlet Error</title></head>",
    r"(?i)<h1>Servlet\sError:\s\w+?</h1>",
    r"(?i)Servlet\sError</title>",
]
APPLICATION_ERROR_REGEXES = [re.compile(r) for r in _REGEXES]

EXTRA_APPLICATION_ERRORS = [
    "Traceback (most recent call last):",  # Python
    "Exception in thread \"",  # Java
    "at java.lang.",  # Java stack frame
]
