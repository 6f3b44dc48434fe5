<%@ page contentType="text/html; charset=UTF-8" trimDirectiveWhitespaces="true" %>
<%
  Integer count = (Integer) session.getAttribute("count");
  int next = (count == null ? 0 : count.intValue()) + 1;
  session.setAttribute("count", Integer.valueOf(next));
  String node = System.getProperty("tomcattest.node", "");
  node = node.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
%>
<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>caddy-ajp test app on <%= node %></title></head>
<body>
<h1>Served by <%= node %></h1>
<p>Requests in this session: <%= next %> (session <%= session.getId().replace("<", "&lt;") %>)</p>
<ul>
<li><a href="echo.jsp">echo.jsp</a>: the request as the servlet sees it (JSON)</li>
<li><a href="session.jsp">session.jsp</a>: session counter (JSON)</li>
<li><a href="bytes.jsp?n=1048576">bytes.jsp?n=1048576</a>: 1 MiB of patterned bytes</li>
<li><a href="stream.jsp?n=10&amp;delay=300">stream.jsp?n=10&amp;delay=300</a>: a streamed response</li>
<li><a href="status.jsp?code=404">status.jsp?code=404</a>: a chosen status</li>
<li><a href="headers.jsp">headers.jsp</a>: repeated response headers</li>
<li><a href="redirect.jsp">redirect.jsp</a>: a redirect to echo.jsp</li>
<li><a href="tiny.jsp">tiny.jsp</a>: the benchmark page</li>
</ul>
</body>
</html>
