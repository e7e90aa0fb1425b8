/* A release's records, in the page that received them: pages of the table, and the CSV download.

   The gateway keeps no copy of a release, so both work on the records already in this page: paging
   shows and hides rows, and the CSV is made here from the table's cells (a cell's data-value holds
   the value as released where the table shows it formatted). Nothing is fetched. Without scripts
   every row is shown and there is no download button. */
(function () {
  'use strict';
  var table = document.querySelector('table[data-paged]');
  if (!table) return;
  var perPage = parseInt(table.getAttribute('data-paged'), 10) || 50;
  var rows = Array.prototype.slice.call(table.tBodies[0].rows);
  var status = document.querySelector('[data-testid=page-status]');
  var nav = document.querySelector('[data-pagination]');
  var pages = Math.max(1, Math.ceil(rows.length / perPage));
  var current = 1;

  function button(text, page, label) {
    var b = document.createElement('button');
    b.type = 'button';
    b.className = 'govuk-button govuk-button--secondary govuk-button--small';
    b.textContent = text;
    if (label) b.setAttribute('aria-label', label);
    b.addEventListener('click', function () { show(page); });
    return b;
  }

  function show(page) {
    current = Math.min(Math.max(1, page), pages);
    var first = (current - 1) * perPage;
    rows.forEach(function (row, i) { row.hidden = i < first || i >= first + perPage; });
    var last = Math.min(rows.length, first + perPage);
    status.textContent = rows.length
      ? 'Showing records ' + (first + 1).toLocaleString('en-GB') + ' to ' + last.toLocaleString('en-GB') +
        ' of ' + rows.length.toLocaleString('en-GB') + ' (page ' + current + ' of ' + pages + ').'
      : 'No records.';
    nav.textContent = '';
    if (pages > 1) {
      if (current > 1) nav.appendChild(button('Previous', current - 1, 'Previous page of records'));
      var here = document.createElement('span');
      here.className = 'govuk-body-s';
      here.setAttribute('data-testid', 'page-number');
      here.textContent = 'Page ' + current + ' of ' + pages;
      nav.appendChild(here);
      if (current < pages) nav.appendChild(button('Next', current + 1, 'Next page of records'));
    }
    nav.hidden = pages <= 1;
  }

  function csvField(value) {
    return /[",\r\n]/.test(value) ? '"' + value.replace(/"/g, '""') + '"' : value;
  }

  function csv() {
    var header = Array.prototype.map.call(table.tHead.rows[0].cells, function (th) {
      return csvField(th.getAttribute('data-field'));
    });
    var lines = [header.join(',')];
    if (table.querySelector('th[data-field]') && rows.length && rows[0].cells.length === header.length) {
      rows.forEach(function (row) {
        lines.push(Array.prototype.map.call(row.cells, function (td) {
          var value = td.hasAttribute('data-value') ? td.getAttribute('data-value') : td.textContent;
          return csvField(value);
        }).join(','));
      });
    }
    return lines.join('\r\n') + '\r\n';
  }

  var download = document.querySelector('[data-download-csv]');
  if (download) {
    download.hidden = false;
    download.addEventListener('click', function () {
      var url = URL.createObjectURL(new Blob([csv()], { type: 'text/csv;charset=utf-8' }));
      var a = document.createElement('a');
      a.href = url;
      a.download = download.getAttribute('data-filename');
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
    });
  }
  show(1);
}());
